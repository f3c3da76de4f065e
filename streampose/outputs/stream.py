"""The Python stream output: each frame's result to the calling program
(:func:`streampose.stream`), through the run's bounded ``caller`` queue.

A :class:`FrameResult` is what one frame gives the caller: who the frame is (its
:class:`~streampose.outputs.base.FrameMeta`), its tracked poses, its events and, when
asked, its picture (the frame as the outputs see it: drawn per ``[draw]``, copied out of
the frame ring before the slot is released: a view would outlive the ring, which the
run unlinks at its end). :class:`StreamSink`, in the render process,
puts one per frame on the queue once the frame's events are known
(:meth:`~streampose.outputs.base.Sink.frame_done`).

Back-pressure is the outputs': for a file the put waits (a slow caller slows the run);
for a live camera a full queue drops the result, counted per stream and told to the
caller with the next result of that stream (``dropped``) or, at the end, by a
:class:`StreamEnd`.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.jsonl import frame_record
from streampose.pose import Poses

if TYPE_CHECKING:
    from streampose.events.event import Event

__all__ = ["END_TIMEOUT_S", "FrameResult", "StreamEnd", "StreamSink"]

END_TIMEOUT_S = 2.0  # how long a closing sink waits to tell the caller of its last drops


@dataclass(frozen=True)
class FrameResult:
    """One frame's result: ``camera`` (its stream's name, unique in the run), ``meta``
    (stream, frame, times), ``poses`` (tracked, in the source picture's pixels),
    ``events`` (the frame's, from the event rules), ``image`` (BGR ``(H, W, 3)`` uint8,
    with ``images=True``, else None: scaled down when the source's frame was larger
    than ``--max-frame-size``) and ``dropped`` (results of this stream dropped for a
    slow caller just before this one: live cameras only)."""

    camera: str
    meta: FrameMeta
    poses: Poses
    events: tuple[Event, ...] = ()
    image: np.ndarray | None = None
    dropped: int = 0

    @property
    def stream(self) -> int:
        return self.meta.stream

    @property
    def frame(self) -> int:
        """The source frame index."""
        return self.meta.frame

    @property
    def pts(self) -> int:
        """The presentation timestamp, in the source's time base."""
        return self.meta.pts

    @property
    def time(self) -> float:
        """The presentation time in seconds."""
        return self.meta.pts_s

    @property
    def wall(self) -> float:
        """When the frame was captured or decoded (``time.time()``)."""
        return self.meta.wall

    def to_json(self) -> dict[str, Any]:
        """The frame's JSON lines object, exactly as ``--json`` writes it."""
        return frame_record(self.meta, self.poses)


@dataclass(frozen=True)
class StreamEnd:
    """A render shard closed: ``dropped[stream]`` results dropped since its last one."""

    dropped: dict[int, int] = field(default_factory=dict)


class StreamSink(Sink):
    """Puts each frame's :class:`FrameResult` on ``channel``; ``live[stream]``: whether a
    full channel drops the stream's result (live) instead of waiting (files);
    ``images``: whether each result carries the frame's picture; ``cameras``: each
    stream's name (where the frame's own names none)."""

    wants_events = True

    def __init__(self, *, channel: Any, live: Sequence[bool], cameras: Sequence[str],
                 images: bool = False) -> None:
        self.channel, self.live, self.images = channel, list(live), images
        self.cameras = list(cameras)  # a list: render renames a seat's camera in it
        self.dropped = [0] * len(self.live)
        self._pending: FrameResult | None = None

    @property
    def wants_image(self) -> bool:  # type: ignore[override]
        return self.images

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        kept = np.array(image) if self.images and image is not None else None  # a copy
        camera = meta.camera if meta.camera is not None else self.cameras[meta.stream]
        self._pending = FrameResult(camera=camera, meta=meta, poses=poses, image=kept)

    def write_events(self, meta: FrameMeta, events: Sequence[Event]) -> None:
        if self._pending is not None:
            self._pending = replace(self._pending, events=tuple(events))

    def frame_done(self, meta: FrameMeta) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._send(pending)

    def _send(self, result: FrameResult) -> None:
        stream = result.meta.stream
        out = replace(result, dropped=self.dropped[stream])
        if not self.live[stream]:
            self.channel.put(out)  # waits: a slow caller slows a file's run
        else:
            try:
                self.channel.put_nowait(out)
            except queue.Full:
                self.dropped[stream] += 1
                return
        self.dropped[stream] = 0

    def close(self) -> None:
        """Tell the caller of the drops no result has carried yet (waits a little)."""
        left = {s: n for s, n in enumerate(self.dropped) if n}
        self.dropped = [0] * len(self.live)
        if left:
            with contextlib.suppress(queue.Full):
                self.channel.put(StreamEnd(dropped=left), timeout=END_TIMEOUT_S)
