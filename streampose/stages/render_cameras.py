"""Render's per-camera state: what each stream's camera has in the render process.

Per stream: the camera's name (in the records), its tracker, its pose carry (the poses
of the frame before carried onto frames the network did not run on, ``--interval``), its
event engine and the annotator drawing that engine's rules, what is drawn on its
frames, and the camera its seat carries and that camera's own recording. Every seat's
camera is attached at its first frame (:meth:`RenderCameras.attach`, from the seat
table); in a run whose cameras come and go, :meth:`RenderCameras.detach` at its detach
marker forgets it, and the next camera is attached at its own first frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from streampose.cameras.seats import SeatTable
from streampose.config.camera import Camera
from streampose.events.engine import EventEngine
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.factory import EncoderSettings
from streampose.pose import Poses
from streampose.pose.carry import PoseCarry
from streampose.stages.recording import open_recording
from streampose.transport.messages import FrameHeader

__all__ = ["NO_MAKERS", "CameraMakers", "RenderCamera", "RenderCameras", "SeatCameras"]

log = logging.getLogger(__name__)


class SeatCameras(Protocol):
    """What render needs to follow the cameras of the seats
    (:class:`streampose.stages.render.SeatOutputs`); ``template``: a camera's own
    recording, opened at its first frame (None: the run's sinks record the streams)."""

    @property
    def table(self) -> SeatTable: ...

    @property
    def template(self) -> str | None: ...

    @property
    def encoder(self) -> EncoderSettings: ...

    @property
    def overwrite(self) -> bool: ...

    def annotators(self, camera: Camera) -> list[Any]: ...


@dataclass(frozen=True, kw_only=True)
class CameraMakers:
    """What makes a camera's parts in render: ``annotators(stream)``, ``tracker()``,
    ``carry()`` and ``events(stream, camera=None)`` (``carry`` None: every frame is
    inferred); ``cameras``: each stream's camera name (None: records name none);
    ``seats``: the seat table and what a camera's attachment needs (None: no camera is
    ever attached, the first parts stay)."""

    annotators: Callable[[int], list[Any]] | None = None
    tracker: Callable[[], Any] | None = None
    events: Callable[..., EventEngine | None] | None = None
    carry: Callable[[], PoseCarry] | None = None
    cameras: Sequence[str] | None = None
    seats: SeatCameras | None = None


NO_MAKERS = CameraMakers()  # no drawing, tracker, events or carry; no names, no seats


@dataclass
class RenderCamera:
    """One stream's camera in render: ``rules`` draws ``engine``'s lines and zones;
    ``camera`` and ``recording``: the seat's camera attached, and its own video."""

    name: str | None = None
    annotators: list[Any] = field(default_factory=list)
    tracker: Any = None
    carry: PoseCarry | None = None
    engine: EventEngine | None = None
    rules: Any = None
    camera: Camera | None = None
    recording: Sink | None = None

    def track(self, poses: Poses) -> Poses:
        """``poses`` with their track ids (unchanged without a tracker)."""
        return self.tracker.update(poses) if self.tracker is not None else poses

    def follow(self, poses: Poses, frame: np.ndarray | None, *, inferred: bool) -> Poses:
        """The frame's tracked poses: ``poses`` as the network found them, or (not
        ``inferred``) the frame before's carried onto ``frame`` by optical flow.

        The tracker is updated with carried poses too: its positions follow the people
        between inferred frames, so the next inferred frame is matched against where
        they are now, and its velocity and ``max_age`` stay in frames. Without a carry
        (``--interval 0``), ``poses`` are tracked as they are.
        """
        carry = self.carry
        if carry is None or frame is None:
            return self.track(poses)
        now = carry.grey(frame)
        if not inferred:
            poses = carry.carried(now, poses.skeleton)
        poses = self.track(poses)
        carry.keep(now, poses)
        return poses

    def tracked_boxes(self, poses: Poses) -> np.ndarray:
        """``(n, 4)`` boxes (frame pixels) of the people to keep inferring: this frame's
        (``poses``, tracked) and every live track's (one missed or coasting too)."""
        found = np.asarray(poses.person_boxes(), np.float64).reshape(-1, 4)
        if self.tracker is None or not hasattr(self.tracker, "boxes"):
            return found
        return np.concatenate([found, self.tracker.boxes()])

    def events(self, meta: FrameMeta, poses: Poses) -> list[Any]:
        """The frame's events (none without an engine)."""
        return self.engine.update(meta, poses) if self.engine is not None else []

    def draw(self, frame: np.ndarray, poses: Poses, *,
             source_scale: tuple[float, float] = (1.0, 1.0)) -> None:
        """The rules, then the poses (in ``frame``'s pixels), drawn in place on
        ``frame``; ``source_scale``: its pixels -> the source's, where the rules are."""
        if self.rules is not None:
            self.rules.annotate(frame, poses, source_scale=source_scale)
        for annotator in self.annotators:
            annotator.annotate(frame, poses)

    def forget(self) -> None:
        """The camera left: no tracks, no events, no recording (the drawing and the name
        stay until the next camera's)."""
        self.tracker = self.carry = self.engine = self.rules = None
        self.camera = self.recording = None


def _rules(engine: EventEngine | None) -> Any:
    from streampose.render.rules import RulesAnnotator  # OpenCV: in the render process

    return RulesAnnotator(engine) if engine is not None else None


class RenderCameras:
    """Every stream's :class:`RenderCamera`, made in the render process by ``makers``
    (:class:`CameraMakers`)."""

    def __init__(self, *, streams: int, owned: Sequence[int],
                 makers: CameraMakers = NO_MAKERS) -> None:
        annotators, cameras, self.seats = makers.annotators, makers.cameras, makers.seats
        self.make_tracker, self.make_engine = makers.tracker, makers.events
        self.make_carry = makers.carry
        self.named = cameras is not None
        self._states = [self._first(s, annotators, cameras) if s in owned
                        else RenderCamera(name=cameras[s] if cameras else None)
                        for s in range(streams)]

    def _first(self, stream: int, annotators: Callable[[int], list[Any]] | None,
               cameras: Sequence[str] | None) -> RenderCamera:
        engine = self.make_engine(stream) if self.make_engine else None
        return RenderCamera(name=cameras[stream] if cameras else None,
                           annotators=annotators(stream) if annotators else [],
                           tracker=self.make_tracker() if self.make_tracker else None,
                           carry=self.make_carry() if self.make_carry else None,
                           engine=engine, rules=_rules(engine))

    def __getitem__(self, stream: int) -> RenderCamera:
        return self._states[stream]

    def needs_attach(self, stream: int) -> bool:
        """Whether ``stream``'s seat has no camera attached yet."""
        return self.seats is not None and self._states[stream].camera is None

    def attach(self, stream: int, header: FrameHeader) -> RenderCamera | None:
        """The first frame of the seat's camera: its name, drawing, tracker, events and
        recording (sized from ``header``); None when the seat has no camera now."""
        seats = self.seats
        assert seats is not None, "a seat's camera comes from its seat outputs"
        _, _, camera = seats.table.read(stream)
        if camera is None:
            return None
        state = self._states[stream]
        state.camera = camera
        if self.named:
            state.name = camera.name
        state.annotators = seats.annotators(camera)
        state.tracker = self.make_tracker() if self.make_tracker else None
        state.carry = self.make_carry() if self.make_carry else None
        state.engine = self.make_engine(stream, camera.name) if self.make_engine else None
        state.rules = _rules(state.engine)
        state.recording = open_recording(template=seats.template, encoder=seats.encoder,
                                         overwrite=seats.overwrite, stream=stream,
                                         camera=camera, header=header)
        return state

    def detach(self, stream: int) -> tuple[Camera | None, Sink | None]:
        """Every frame of the seat's camera is out: forget it; its camera and its
        recording (to close), if any."""
        state = self._states[stream]
        camera, recording = state.camera, state.recording
        state.forget()
        return camera, recording

    def drained(self, stream: int, generation: int) -> None:
        """Tell the seat table every frame of ``stream`` up to ``generation`` is out."""
        if self.seats is not None:
            self.seats.table.drained(stream, generation)
