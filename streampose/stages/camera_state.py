"""Render's per-camera state: what each stream's camera has in the render process.

Per stream: the camera's name (in the records), its tracker, its event engine and the
annotator drawing that engine's rules, what is drawn on its frames, and (in a stream
slot) the camera attached and its recording. A stream slot's camera comes and goes:
:meth:`CameraStates.attach` at its first frame (from the slot table), then
:meth:`CameraStates.detach` at its detach marker forgets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from streampose.config.camera import Camera
from streampose.events.engine import EventEngine
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.factory import EncoderSettings
from streampose.pose import Poses
from streampose.stages.recording import open_recording
from streampose.stages.slots import SlotTable
from streampose.transport.messages import FrameHeader

__all__ = ["CameraState", "CameraStates", "SlotCameras"]

log = logging.getLogger(__name__)


class SlotCameras(Protocol):
    """What render needs to follow the cameras of stream slots
    (:class:`streampose.stages.render.SlotOutputs`)."""

    @property
    def table(self) -> SlotTable: ...

    @property
    def template(self) -> str | None: ...

    @property
    def encoder(self) -> EncoderSettings: ...

    @property
    def overwrite(self) -> bool: ...

    def annotators(self, camera: Camera) -> list[Any]: ...


@dataclass
class CameraState:
    """One stream's camera in render: ``rules`` draws ``engine``'s lines and zones;
    ``camera`` and ``recording``: the stream slot's camera attached, and its video."""

    name: str | None = None
    annotators: list[Any] = field(default_factory=list)
    tracker: Any = None
    engine: EventEngine | None = None
    rules: Any = None
    camera: Camera | None = None
    recording: Sink | None = None

    def track(self, poses: Poses) -> Poses:
        """``poses`` with their track ids (unchanged without a tracker)."""
        return self.tracker.update(poses) if self.tracker is not None else poses

    def events(self, meta: FrameMeta, poses: Poses) -> list[Any]:
        """The frame's events (none without an engine)."""
        return self.engine.update(meta, poses) if self.engine is not None else []

    def draw(self, frame: np.ndarray, poses: Poses) -> None:
        """The rules, then the poses, drawn in place on ``frame``."""
        if self.rules is not None:
            self.rules.annotate(frame, poses)
        for annotator in self.annotators:
            annotator.annotate(frame, poses)

    def forget(self) -> None:
        """The camera left: no tracks, no events, no recording (the drawing and the name
        stay until the next camera's)."""
        self.tracker = self.engine = self.rules = None
        self.camera = self.recording = None


def _rules(engine: EventEngine | None) -> Any:
    from streampose.render.rules import RulesAnnotator  # OpenCV: in the render process

    return RulesAnnotator(engine) if engine is not None else None


class CameraStates:
    """Every stream's :class:`CameraState`, made in the render process.

    ``annotators(stream)``, ``tracker()`` and ``events(stream, camera=None)`` make a
    camera's parts; ``cameras``: each stream's camera name (None: records name none);
    ``slots``: the streams are slots whose cameras come and go (None: they never change).
    """

    def __init__(self, *, streams: int, owned: Sequence[int],
                 annotators: Callable[[int], list[Any]] | None = None,
                 tracker: Callable[[], Any] | None = None,
                 events: Callable[..., EventEngine | None] | None = None,
                 cameras: Sequence[str] | None = None,
                 slots: SlotCameras | None = None) -> None:
        self.make_tracker, self.make_engine, self.slots = tracker, events, slots
        self.changing = bool(slots)  # with slot outputs: the cameras come and go
        self.named = cameras is not None
        self._states = [self._first(s, annotators, cameras) if s in owned
                        else CameraState(name=cameras[s] if cameras else None)
                        for s in range(streams)]

    def _first(self, stream: int, annotators: Callable[[int], list[Any]] | None,
               cameras: Sequence[str] | None) -> CameraState:
        engine = self.make_engine(stream) if self.make_engine else None
        return CameraState(name=cameras[stream] if cameras else None,
                           annotators=annotators(stream) if annotators else [],
                           tracker=self.make_tracker() if self.make_tracker else None,
                           engine=engine, rules=_rules(engine))

    def __getitem__(self, stream: int) -> CameraState:
        return self._states[stream]

    def needs_attach(self, stream: int) -> bool:
        """Whether ``stream`` is a slot with no camera attached yet."""
        return self.changing and self._states[stream].camera is None

    def attach(self, stream: int, header: FrameHeader) -> CameraState | None:
        """The first frame of the slot's camera: its name, drawing, tracker, events and
        recording (sized from ``header``); None when the slot has no camera now."""
        slots = self.slots
        assert slots, "a stream slot's camera comes from its slot outputs"
        _, _, camera = slots.table.read(stream)
        if camera is None:
            return None
        state = self._states[stream]
        state.camera = camera
        if self.named:
            state.name = camera.name
        state.annotators = slots.annotators(camera)
        state.tracker = self.make_tracker() if self.make_tracker else None
        state.engine = self.make_engine(stream, camera.name) if self.make_engine else None
        state.rules = _rules(state.engine)
        state.recording = open_recording(template=slots.template, encoder=slots.encoder,
                                         overwrite=slots.overwrite, stream=stream,
                                         camera=camera, header=header)
        return state

    def detach(self, stream: int) -> tuple[Camera | None, Sink | None]:
        """Every frame of the slot's camera is out: forget it; its camera and its
        recording (to close), if any."""
        state = self._states[stream]
        camera, recording = state.camera, state.recording
        state.forget()
        return camera, recording

    def drained(self, stream: int, generation: int) -> None:
        """Tell the slot table every frame of ``stream`` up to ``generation`` is out."""
        if self.slots:
            self.slots.table.drained(stream, generation)
