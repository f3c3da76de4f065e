"""``--backend auto``: the fastest backend this machine can run for a model.

ONNX files: TensorRT when it is importable and a CUDA GPU is present, else ONNX Runtime
(on CUDA when onnxruntime-gpu is installed, else the CPU). Networks built in code
(e.g. lightweight-openpose): torch, on CUDA when available, else the CPU.

:func:`resolve_backend` also checks, in the parent before any stage starts, that the
backend is known and its packages are installed, and that the device is spelt right
(``cpu``, ``cuda``, ``cuda:N``) and exists: a ConfigError (exit 2) rather than a stage
failing after every process was spawned.
"""

from __future__ import annotations

import importlib.util
import logging
import re

from streampose.backends import BackendEntry, available_backends, backend_entry
from streampose.errors import ConfigError

log = logging.getLogger(__name__)

_DEVICE = re.compile(r"cpu|cuda(?::(\d+))?")
_NEEDS_NO_DEVICE = ("fake",)  # backends that run anywhere (no packages, no GPU)


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
    check_device_name(device)
    if name != "auto":
        entry = check_backend_name(name)
        if name not in _NEEDS_NO_DEVICE:
            check_requirements(name, entry)
            check_device_present(name, device or "cpu")
        return name, device or "cpu"
    chosen, on = choose_backend(onnx_file=not built_in, device=device)
    check_device_present(chosen, on)
    return chosen, on


def check_backend_name(name: str) -> BackendEntry:
    """The registry entry of backend ``name``; ConfigError naming the choices if unknown."""
    entry = backend_entry(name)
    if entry is None:
        choices = ", ".join(("auto", *available_backends()))
        raise ConfigError(f"--backend / [model].backend: {name!r} is not a backend "
                          f"(available: {choices})")
    return entry


def check_device_name(device: str | None) -> None:
    """ConfigError unless ``device`` is None, ``cpu``, ``cuda`` or ``cuda:N``."""
    if device is not None and _DEVICE.fullmatch(device) is None:
        raise ConfigError(f"--device / [model].device: {device!r} is not a device "
                          "(allowed: cpu, cuda, cuda:N)")


def check_requirements(name: str, entry: BackendEntry) -> None:
    """ConfigError naming the package and how to install it when one that backend
    ``name`` imports is missing (checked without importing it)."""
    for package in entry.requires:
        if not importable(package):
            how = entry.install or f"pip install {package}"
            raise ConfigError(f"--backend {name}: needs the {package!r} package, which is "
                              f"not installed ({how})")


def check_device_present(name: str, device: str) -> None:
    """ConfigError when ``device`` is a GPU that backend ``name`` cannot use here."""
    match = _DEVICE.fullmatch(device)
    if match is None or device == "cpu":
        return
    if name == "onnxruntime" and not ort_has_cuda():
        raise ConfigError(f"--device {device}: this onnxruntime has no CUDA provider "
                          "(pip install onnxruntime-gpu), or use --device cpu")
    count = cuda_device_count()
    if not count:
        if name == "onnxruntime":
            return  # no CUDA torch to ask: the provider checks the device when it opens
        raise ConfigError(f"--device {device}: torch sees no CUDA device here "
                          "(use --device cpu)")
    index = int(match.group(1) or 0)
    if index >= count:
        raise ConfigError(f"--device {device}: no such CUDA device (this machine has "
                          f"{count}: cuda:0 to cuda:{count - 1})")


def cuda_device_count() -> int | None:
    """How many CUDA devices torch sees; None without torch."""
    if not importable("torch"):
        return None
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
