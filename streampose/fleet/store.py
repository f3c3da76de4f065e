"""The fleet's desired cameras on the head: ``work_dir/fleet-<id>.json``.

The controller writes it on every change (atomically), so a controller restarted by Ray
keeps the cameras added or removed since ``fleet up``; ``fleet down`` removes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from streampose.config.cameras_file import Camera

__all__ = ["StateFile", "plain"]

log = logging.getLogger(__name__)


def plain(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON values (paths as strings, tuples as lists): the same after
    the state file's round trip, so a restarted controller gives the nodes settings
    equal to those they run (no restart)."""
    return dict(json.loads(json.dumps(dict(settings), default=str)))


class StateFile:
    """The state file of fleet ``fleet_id`` in ``work_dir``."""

    def __init__(self, *, fleet_id: str, work_dir: str) -> None:
        self.fleet_id = fleet_id
        self.path = Path(work_dir) / f"fleet-{fleet_id}.json"

    def load(self) -> tuple[dict[str, Camera], dict[str, Any] | None] | None:
        """The cameras and settings saved before a restart; None on a first start."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        cameras = {c["name"]: Camera(**c) for c in data.get("cameras", [])}
        log.info("controller restarted: %d cameras from %s", len(cameras), self.path)
        return cameras, data.get("settings")

    def save(self, cameras: Sequence[Camera], settings: Mapping[str, Any]) -> None:
        data = {"fleet": self.fleet_id, "settings": dict(settings),
                "cameras": [asdict(c) for c in cameras]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
        os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
