"""Input preparation strategies: on the host, or on the inference device.

:func:`choose_processing` picks one per run from ``--device-ops`` (auto, on, off), the
backend and the device; the stages receive the object and never look at the option.
"""

from __future__ import annotations

from streampose.backends.auto import importable
from streampose.errors import ConfigError
from streampose.heads.base import Head, Payload
from streampose.processing.base import Processing
from streampose.processing.host import HostProcessing

__all__ = ["HostProcessing", "Payload", "Processing", "choose_processing"]


def choose_processing(mode: str, *, backend: str, device: str, head: Head) -> Processing:
    """Device processing by default only where the batch stays on a GPU (torch or TensorRT
    on CUDA); ``on`` forces it (any backend, via torch), ``off`` keeps it on the host. On
    the device, a head that can (the PAF head's peak NMS) also works there."""
    if mode == "auto":
        on = backend in ("torch", "tensorrt") and device.startswith("cuda")
    elif mode == "on":
        if not importable("torch"):
            raise ConfigError("--device-ops on needs torch (pip install torch==2.13.0, or a "
                              "CUDA build)")
        on = True
    else:
        on = False
    if not on:
        return HostProcessing(spec=head.spec, head=head)
    from streampose.processing.device import DeviceProcessing

    head.on_device = bool(getattr(head, "supports_device", False))
    return DeviceProcessing(spec=head.spec, head=head)
