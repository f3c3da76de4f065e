"""The GPU TensorRT runs on, through torch: device identity, a stream, tensors on it.

Inputs and outputs are **torch CUDA tensors**: torch is already the GPU dependency of the
torch backend; its caching allocator makes per-call buffers cheap and safe across streams,
its streams give ``execute_async_v3`` a stream handle, and it owns the CUDA primary
context that TensorRT's runtime also uses, so there is no context to push and pop as with
pycuda (which remains an alternative: ``pycuda.driver.mem_alloc`` buffers and a
``pycuda.driver.Stream`` handle would plug into the same calls).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from streampose.backends.tensorrt.builder import INSTALL_HINT
from streampose.errors import ConfigError

__all__ = ["CudaDevice", "cuda_index", "open_cuda"]


@dataclass
class CudaDevice:
    """The GPU as torch sees it: identity for the cache key, a stream, tensors on it."""

    torch: Any  # the torch module (imported only when a GPU is opened)
    device: Any  # torch.device
    name: str
    capability: str  # "8.9"
    stream: Any = None  # torch.cuda.Stream; None runs on the current stream

    @property
    def stream_handle(self) -> int:
        return int(self.stream.cuda_stream) if self.stream is not None else 0

    def stream_context(self) -> contextlib.AbstractContextManager[object]:
        if self.stream is None:
            return contextlib.nullcontext()
        context: contextlib.AbstractContextManager[object] = self.torch.cuda.stream(self.stream)
        return context

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def wait_for_current(self) -> None:
        """Make this stream wait for work queued on the current one (e.g. a device letterbox)."""
        if self.stream is not None:
            self.stream.wait_stream(self.torch.cuda.current_stream(self.device))


def cuda_index(device: str) -> int:
    """The GPU index of ``device`` ("cuda" -> 0, "cuda:N" -> N); ConfigError otherwise."""
    kind, _, index = str(device).partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise ConfigError(f"tensorrt backend: device = {device!r} (allowed: 'cuda', "
                          "'cuda:N'; TensorRT runs on NVIDIA GPUs only)")
    return int(index or 0)


def open_cuda(device: str) -> CudaDevice:
    """Make ``device`` ("cuda" / "cuda:N") current for this process, with its own stream."""
    index = cuda_index(device)
    try:
        import torch
    except ImportError as exc:
        raise ConfigError("tensorrt backend: needs torch (a CUDA build) for GPU memory; "
                          f"{INSTALL_HINT} and a CUDA build of torch") from exc
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none: a CPU-only build"
        raise ConfigError(f"tensorrt backend: device {device!r}, but torch sees no CUDA GPU "
                          f"(torch {torch.__version__}, CUDA {built})")
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"tensorrt backend: device {device!r}, but only {count} CUDA "
                          "device(s) are visible")
    torch.cuda.set_device(index)  # TensorRT builds and runs on the current device
    major, minor = torch.cuda.get_device_capability(index)
    return CudaDevice(torch=torch, device=torch.device("cuda", index),
                      name=str(torch.cuda.get_device_name(index)), capability=f"{major}.{minor}",
                      stream=torch.cuda.Stream(device=index))
