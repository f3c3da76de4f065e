"""A changing seat's recordings: one annotated MP4 per camera, opened at its first frame.

A seat carries one camera after another; each camera's recording is named after it
(:func:`seat_recording`) and sized from its first frame (:func:`open_recording`), then
closed when the camera's detach marker comes (render, :mod:`streampose.stages.render`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from streampose.config.camera import Camera
from streampose.errors import OutputError
from streampose.outputs.base import Sink
from streampose.outputs.factory import DEFAULT_FPS, EncoderSettings, annotated_path
from streampose.outputs.registry import video_sink
from streampose.stages.sink_set import guarded
from streampose.transport.messages import FrameHeader

__all__ = ["open_recording", "seat_recording"]

log = logging.getLogger(__name__)


def seat_recording(template: str | None, stream: int, camera: str) -> Path | None:
    """The recording of ``camera`` on seat ``stream``: ``{camera}`` and ``{stream}``
    replaced; without ``{camera}``, ``_<camera>`` before the extension (a seat's next
    camera never overwrites the last one's file)."""
    path = annotated_path(template, stream, 1, camera)
    if path is None or template is None or "{camera}" in template:
        return path
    return path.with_name(f"{path.stem}_{camera}{path.suffix}")


def open_recording(*, template: str | None, encoder: EncoderSettings, overwrite: bool,
                   stream: int, camera: Camera, header: FrameHeader) -> Sink | None:
    """``camera``'s recording on ``stream``, open; None when it is not recorded (no
    ``-o``, its ``record`` off, a file kept by ``--no-overwrite``, or it failed to open:
    logged, the run goes on)."""
    path = seat_recording(template, stream, camera.name)
    if path is None or not camera.record:
        return None
    if not overwrite and path.exists():
        log.error("camera %r: -o %s exists, and --no-overwrite is set: not recorded",
                  camera.name, path)
        return None
    sink = video_sink(stream, path, width=header.width, height=header.height,
                      fps=DEFAULT_FPS, time_base=header.time_base, encoder=encoder)
    try:
        guarded(sink, "open", sink.open)
    except OutputError as exc:  # this camera goes unrecorded; the run goes on
        log.error("camera %r: %s", camera.name, exc)
        return None
    return sink
