"""A stream's settings: the run's, with its camera's own overrides (the one rule).

A camera of a cameras file (:class:`~streampose.config.camera.Camera`) may set its own
RTSP ``transport``, ``blur_faces``, ``draw`` and ``record``; each one left unset (None)
follows the run's (``[live]``, ``[draw]``). :meth:`StreamSettings.for_camera` is where
that rule is written: the config (:meth:`PipelineConfig.settings_for
<streampose.config.sections.PipelineConfig.settings_for>`), a seat's decoder and
render all ask it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sections imports this module
    from streampose.config.camera import Camera
    from streampose.config.sections import DrawConfig, LiveConfig

__all__ = ["StreamSettings"]


@dataclass(frozen=True)
class StreamSettings:
    """What a stream's camera may change: ``live`` (its RTSP transport), ``draw`` (its
    face blurring), ``poses`` (whether the poses are drawn on its recording) and
    ``record`` (whether its annotated video is written)."""

    live: LiveConfig
    draw: DrawConfig
    poses: bool = True
    record: bool = True

    def for_camera(self, camera: Camera | None) -> StreamSettings:
        """These settings with ``camera``'s own; unchanged (the same objects) without one."""
        if camera is None:
            return self
        live, draw = self.live, self.draw
        if camera.transport is not None:
            live = dataclasses.replace(live, rtsp_transport=camera.transport)
        if camera.blur_faces is not None:
            draw = dataclasses.replace(draw, blur_faces=camera.blur_faces)
        return StreamSettings(live=live, draw=draw, poses=camera.draw, record=camera.record)
