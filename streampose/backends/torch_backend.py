"""PyTorch backend: networks built in code (``streampose.models``), CPU or CUDA.

On CUDA the model runs in fp16 (half weights) with ``channels_last`` memory, under
``torch.inference_mode``; inputs go up through a pinned host buffer with non-blocking
copies, and optional CUDA graphs replay a captured forward for a fixed batch shape. On
the CPU it runs float32 with ``threads`` intra-op threads. With device ops (the
pipeline's default on CUDA) the batch arrives already on the device through
:meth:`TorchBackend.infer_tensor` and the maps stay there for peak finding.

Verified here: the CPU path (tests, end to end in the pipeline). Not verified: everything
CUDA-specific; no GPU was available to this project's test runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from streampose.backends.base import Backend
from streampose.errors import ConfigError
from streampose.heads.base import Shape
from streampose.models import OUTPUT_NAMES
from streampose.models.spec import ModelSpec

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    """Runs a ``streampose.models`` architecture (default: Lightweight OpenPose)."""

    name = "torch"

    def __init__(self, *, spec: ModelSpec, model_path: Path | None, device: str = "cpu",
                 threads: int | None = None, architecture: str = "lightweight-openpose",
                 fp16: bool | None = None, channels_last: bool | None = None,
                 cuda_graphs: bool = False) -> None:
        super().__init__(spec=spec, model_path=model_path, device=device, threads=threads)
        if spec.input_layout != "NCHW":
            raise ConfigError(f"torch backend: spec {spec.name} must use NCHW input")
        self.architecture = architecture
        cuda = device.startswith("cuda")
        self.fp16 = cuda if fp16 is None else fp16
        self.channels_last = cuda if channels_last is None else channels_last
        self.cuda_graphs = cuda_graphs and cuda
        self._model: torch.nn.Module | None = None
        self._pinned: torch.Tensor | None = None
        self._graphs: dict[tuple[int, ...], _CudaGraph] = {}

    def open(self) -> None:
        from streampose.models import build_model

        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("torch backend: --device cuda, but torch sees no CUDA device")
        if device.type == "cuda":
            torch.cuda.set_device(device)  # streams, events and graphs default to this GPU
        if self.threads is not None and device.type == "cpu":
            torch.set_num_threads(self.threads)
        model = build_model(self.architecture, weights=self.model_path)
        model = model.to(device).eval()
        if self.fp16:
            model = model.half()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._model, self._device = model, device
        log.info("torch: %s on %s (fp16 %s)", self.architecture, device, self.fp16)

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        model = self._model
        if model is None:
            raise RuntimeError("torch backend: infer() before open()")
        if batch.dtype != np.float32 or batch.ndim != 4:
            raise ValueError(f"torch backend: expected float32 NCHW, got {batch.dtype} "
                             f"{batch.shape}")
        outputs = self._forward(model, self._upload(batch))
        return {name: _to_numpy(t) for name, t in outputs.items()}

    @property
    def tensor_device(self) -> torch.device | None:
        """Where :meth:`infer_tensor` wants its input (None before open())."""
        return getattr(self, "_device", None) if self._model is not None else None

    @torch.inference_mode()
    def infer_tensor(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run a float32 NCHW batch already on the device; the outputs stay there."""
        model = self._model
        if model is None:
            raise RuntimeError("torch backend: infer_tensor() before open()")
        return self._forward(model, self._for_model(x.to(self._device, non_blocking=True)))

    def _forward(self, model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's outputs by name (:data:`streampose.models.OUTPUT_NAMES`)."""
        outputs = self._graphed(model, x) if self.cuda_graphs else tuple(model(x))
        return dict(zip(OUTPUT_NAMES[self.architecture], outputs, strict=True))

    def output_shapes(self) -> dict[str, Shape]:
        """4-D outputs, sizes decided by the input (a built-in network matches its spec)."""
        return {name: (None, None, None, None) for name in OUTPUT_NAMES[self.architecture]}

    def _upload(self, batch: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(batch)
        if self._device.type == "cuda":
            if self._pinned is None or self._pinned.shape != host.shape:
                self._pinned = torch.empty(host.shape, dtype=torch.float32, pin_memory=True)
            self._pinned.copy_(host)
            host = self._pinned
        return self._for_model(host.to(self._device, non_blocking=True))

    def _for_model(self, x: torch.Tensor) -> torch.Tensor:
        """fp16 and channels_last as the model was set up."""
        if self.fp16:
            x = x.half()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _graphed(self, model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Replay the graph captured for this input shape (one per shape: partial batches
        do not force re-captures). The outputs are the graph's own tensors, valid until the
        next replay; both callers copy them to the host first."""
        graph = self._graphs.get(tuple(x.shape))
        if graph is None:
            graph = self._graphs[tuple(x.shape)] = _CudaGraph(model, x)
        return graph.replay(x)

    def close(self) -> None:
        self._model = None
        self._pinned = None
        self._graphs.clear()


class _CudaGraph:
    """One captured forward pass for a fixed input shape (CUDA only)."""

    def __init__(self, model: torch.nn.Module, example: torch.Tensor) -> None:
        self.shape = tuple(example.shape)
        self.input = example.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # warm-up outside the graph, as capture requires
                model(self.input)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output: tuple[torch.Tensor, ...] = tuple(model(self.input))

    def replay(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self.input.copy_(x)
        self.graph.replay()
        return self.output


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.float().cpu().numpy())

