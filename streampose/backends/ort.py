"""ONNX Runtime backend (CPU, CUDA)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from streampose.backends.base import Backend, join_chunks
from streampose.errors import ConfigError, ModelError
from streampose.heads.base import Shape
from streampose.models.spec import ModelSpec

__all__ = ["OnnxRuntimeBackend"]

log = logging.getLogger(__name__)

_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"


class OnnxRuntimeBackend(Backend):
    """Runs an ONNX model with ONNX Runtime.

    ``device`` is ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``threads`` sets the intra-op
    thread pool (None: ONNX Runtime's default, one per core). ``spin`` keeps ONNX Runtime's
    idle threads busy-waiting between runs (its default); turning it off frees the cores
    for other pipeline stages between batches at a small latency cost. ``inter_threads``:
    the inter-op pool (1: the graph runs sequentially).
    """

    name = "onnxruntime"

    def __init__(
        self,
        *,
        spec: ModelSpec,
        model_path: Path | None,
        device: str = "cpu",
        threads: int | None = None,
        spin: bool = False,
        inter_threads: int = 1,
    ) -> None:
        super().__init__(spec=spec, model_path=model_path, device=device, threads=threads)
        if model_path is None:
            raise ConfigError("onnxruntime backend: a model path (.onnx) is required")
        self._providers = _providers(device)
        self.spin = spin
        self.inter_threads = max(1, int(inter_threads))
        self._session: ort.InferenceSession | None = None
        self._output_names: list[str] = []

    def open(self) -> None:
        if self._session is not None:
            return
        session = self._create_session()
        _check_io(session, self.spec, self.model_path)
        _check_device(session, self._providers[0][0], self.device)
        self._output_names = [o.name for o in session.get_outputs()]
        self._session = session
        log.info("onnxruntime: %s on %s", self.model_path, session.get_providers()[0])

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self._session is None:
            raise RuntimeError("onnxruntime backend: infer() called before open()")
        self._check_batch(batch)
        chunk = self.spec.max_batch or len(batch)
        return join_chunks([self._run(batch[i : i + chunk]) for i in range(0, len(batch), chunk)])

    def output_shapes(self) -> dict[str, Shape]:
        if self._session is None:
            raise RuntimeError("onnxruntime backend: output_shapes() called before open()")
        return {o.name: tuple(d if isinstance(d, int) else None for d in o.shape)
                for o in self._session.get_outputs()}

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        assert self._session is not None
        arrays = self._session.run(self._output_names, {self.spec.input_name: batch})
        return dict(zip(self._output_names, arrays, strict=True))

    def close(self) -> None:
        self._session = None

    def _create_session(self) -> ort.InferenceSession:
        path = self.model_path
        assert path is not None
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        try:
            return ort.InferenceSession(
                str(path), sess_options=self._session_options(), providers=self._providers
            )
        except Exception as exc:  # ORT raises its own unexported exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load ONNX model {path}: {first}") from exc

    def _session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = self.inter_threads
        options.execution_mode = (ort.ExecutionMode.ORT_SEQUENTIAL if self.inter_threads == 1
                                  else ort.ExecutionMode.ORT_PARALLEL)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options


def _providers(device: str) -> list[tuple[str, dict[str, str]]]:
    if device == "cpu":
        return [(_CPU, {})]
    kind, _, index = device.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise ConfigError(
            f"onnxruntime backend: device = {device!r} (allowed: 'cpu', 'cuda', 'cuda:N')"
        )
    if _CUDA not in ort.get_available_providers():
        raise ConfigError(
            f"onnxruntime backend: device {device!r} needs onnxruntime-gpu; this onnxruntime "
            f"has only {', '.join(ort.get_available_providers())}"
        )
    return [(_CUDA, {"device_id": index or "0"}), (_CPU, {})]


def _check_device(session: ort.InferenceSession, wanted: str, device: str) -> None:
    """ORT silently falls back to CPU when CUDA cannot start: refuse that."""
    if wanted not in session.get_providers():
        raise ConfigError(
            f"onnxruntime backend: device {device!r} was requested but {wanted} could not be "
            f"initialised (CUDA/cuDNN libraries?); session runs on {session.get_providers()}"
        )


def _check_io(session: ort.InferenceSession, spec: ModelSpec, path: Path | None) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    if spec.input_name not in inputs:
        raise ModelError(
            f"model {path} has no input {spec.input_name!r} (spec {spec.source}); "
            f"its inputs are: {', '.join(map(repr, inputs))}"
        )
    _check_input_layout(inputs[spec.input_name].shape, spec, path)


def _static_dim(shape: list[object], axis: int) -> int | None:
    if len(shape) != 4:
        return None
    dim = shape[axis]
    return dim if isinstance(dim, int) else None


def _check_input_layout(shape: list[object], spec: ModelSpec, path: Path | None) -> None:
    """A 4-D input whose channel axis (per the spec) is 3, or dynamic while the other is not 3."""
    axis, other = (3, 1) if spec.input_layout == "NHWC" else (1, 3)
    channels, other_channels = _static_dim(shape, axis), _static_dim(shape, other)
    plausible = channels == 3 or (channels is None and other_channels != 3)
    if len(shape) != 4 or not plausible:
        raise ModelError(
            f"model {path}: input {spec.input_name!r} has shape {shape}, which is not a "
            f"3-channel {spec.input_layout} image batch (input_layout in spec {spec.source})"
        )
