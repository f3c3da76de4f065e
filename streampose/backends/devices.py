"""``--device``: one device (``cpu``, ``cuda``, ``cuda:N``) or a comma-separated list of
them (``cuda:0,cuda:1``), one inference worker per listed device."""

from __future__ import annotations

import re

from streampose.errors import ConfigError

__all__ = ["parse_devices"]

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def parse_devices(text: str | None) -> tuple[str, ...]:
    """The devices in ``text`` in order (empty for None: the backend picks). One device
    passes as given (its backend checks it); in a list, ConfigError for an entry that is
    not cpu/cuda/cuda:N or a list mixing the CPU with GPUs."""
    if text is None:
        return ()
    if "," not in text:
        return (text,)
    devices = tuple(part.strip() for part in text.split(","))
    for device in devices:
        if not _DEVICE.fullmatch(device):
            raise ConfigError(f"--device {text}: {device!r} is not cpu, cuda or cuda:N "
                              "(a list is comma-separated, e.g. cuda:0,cuda:1)")
    if len(devices) > 1 and len({d.split(":")[0] for d in devices}) > 1:
        raise ConfigError(f"--device {text}: a list of devices is all cuda:N (the CPU is "
                          "one device; use --infer-workers to run several CPU workers)")
    return devices
