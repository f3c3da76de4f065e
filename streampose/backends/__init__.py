"""Inference backends, chosen by name.

Backend modules are imported only when chosen, so a missing optional package (torch,
tensorrt) fails only for the backend that needs it, with an install hint. To add one,
write a :class:`Backend` subclass and add a :class:`BackendEntry` to ``_REGISTRY`` (or call
:func:`register_backend`).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streampose.backends.base import Backend
from streampose.errors import ConfigError
from streampose.models.spec import ModelSpec

__all__ = [
    "Backend",
    "BackendEntry",
    "available_backends",
    "backend_entry",
    "create_backend",
    "register_backend",
]


@dataclass(frozen=True, slots=True)
class BackendEntry:
    """Where a backend class lives and which optional packages it needs."""

    module: str  # e.g. "streampose.backends.ort"
    cls: str  # e.g. "OnnxRuntimeBackend"
    requires: tuple[str, ...] = ()  # top-level packages it imports
    install: str = ""  # how to get them

    def load(self, name: str) -> type[Backend]:
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] not in self.requires:
                raise
            raise ConfigError(
                f"backend {name!r} needs the {exc.name.split('.')[0]!r} package, which is not "
                f"installed ({self.install or 'pip install ' + exc.name.split('.')[0]})"
            ) from exc
        cls = getattr(module, self.cls)
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise ConfigError(f"backend {name!r}: {self.module}.{self.cls} is not a Backend "
                              "subclass")
        return cls


_REGISTRY: dict[str, BackendEntry] = {
    "onnxruntime": BackendEntry(
        "streampose.backends.ort",
        "OnnxRuntimeBackend",
        requires=("onnxruntime",),
        install="pip install onnxruntime, or onnxruntime-gpu for CUDA",
    ),
    "fake": BackendEntry("streampose.backends.fake", "FakeBackend"),
    "torch": BackendEntry(
        "streampose.backends.torch_backend",
        "TorchBackend",
        requires=("torch",),
        install="pip install torch==2.13.0 (CPU build), or a CUDA build for GPUs",
    ),
    "tensorrt": BackendEntry(
        "streampose.backends.tensorrt",
        "TensorRTBackend",
        requires=("tensorrt", "torch"),
        install="pip install 'streampose[tensorrt]' plus a CUDA build of torch",
    ),
}


def register_backend(name: str, entry: BackendEntry) -> None:
    """Add (or replace) a backend under ``name``."""
    _REGISTRY[name] = entry


def available_backends() -> tuple[str, ...]:
    """The registered backend names (whether or not their packages are installed)."""
    return tuple(sorted(_REGISTRY))


def backend_entry(name: str) -> BackendEntry | None:
    """The registry entry of backend ``name``; None if there is none."""
    return _REGISTRY.get(name)


def create_backend(
    name: str,
    *,
    spec: ModelSpec,
    model_path: Path | None,
    device: str = "cpu",
    threads: int | None = None,
    **options: Any,
) -> Backend:
    """Build (but do not open) the backend called ``name``.

    ``options`` are backend-specific keyword arguments (e.g. ``spin`` for onnxruntime,
    ``delay_ms`` and ``latency_ms`` for fake); an unknown one raises ConfigError listing
    the accepted ones.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(
            f"unknown backend {name!r} (available: {', '.join(available_backends())})"
        )
    cls = entry.load(name)
    _check_options(name, cls, options)
    return cls(spec=spec, model_path=model_path, device=device, threads=threads, **options)


def _check_options(name: str, cls: type[Backend], options: dict[str, Any]) -> None:
    params = inspect.signature(cls).parameters
    accepted = [p for p in params if p not in ("spec", "model_path", "device", "threads")]
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise ConfigError(
            f"backend {name!r}: unknown option(s) {', '.join(map(repr, unknown))} "
            f"(accepted: {', '.join(accepted) or 'none'})"
        )
