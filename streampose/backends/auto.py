"""``--backend auto``: the fastest backend this machine can run for a model.

ONNX files: TensorRT when it is importable and a CUDA GPU is present, else ONNX Runtime
(on CUDA when onnxruntime-gpu is installed, else the CPU). Networks built in code
(e.g. lightweight-openpose): torch, on CUDA when available, else the CPU.
"""

from __future__ import annotations

import importlib.util
import logging

log = logging.getLogger(__name__)


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cuda_available() -> bool:
    if not importable("torch"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def ort_has_cuda() -> bool:
    if not importable("onnxruntime"):
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def choose_backend(*, onnx_file: bool, device: str | None) -> tuple[str, str]:
    """(backend, device) for ``--backend auto``; ``device`` None means pick one."""
    gpu = device.startswith("cuda") if device else cuda_available()
    if onnx_file:
        if gpu and importable("tensorrt"):
            choice = ("tensorrt", device or "cuda")
        else:
            ort_gpu = gpu and ort_has_cuda()
            choice = ("onnxruntime", device if ort_gpu and device else
                      ("cuda" if ort_gpu else "cpu"))
    else:
        choice = ("torch", device or ("cuda" if gpu else "cpu"))
    log.info("--backend auto: %s on %s", *choice)
    return choice


def resolve_backend(name: str, device: str | None, *, built_in: bool) -> tuple[str, str]:
    """(backend, device) for ``--backend NAME --device DEVICE``; ``auto`` picks the fastest
    available (a built-in network runs on torch)."""
    if name != "auto":
        return name, device or "cpu"
    return choose_backend(onnx_file=not built_in, device=device)
