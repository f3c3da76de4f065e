"""The console's side in the render process: one sink per stream (made by the sink
registry, :mod:`streampose.outputs.registry`).

While the parent marks the stream watched, at most ``fps`` times a second, the annotated
frame is scaled down straight into a slot of the stream's preview ring (``drop_oldest``:
it never waits); a frame of another aspect ratio than the preview was sized for (its
source changed resolution) is letterboxed into it, never stretched. Events go to the
parent through a bounded queue with a small JPEG thumbnail of their frame; when the
queue is full they are dropped and counted. Nothing here grows with a slow viewer: the
parent reads the ring at its own pace.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from streampose.console.link import ConsoleLink, PreviewHeader
from streampose.outputs.base import FrameMeta, Sink
from streampose.pose import Poses

__all__ = ["ConsoleSink", "fit_into", "thumbnail"]

log = logging.getLogger(__name__)

THUMB_WIDTH = 160
THUMB_QUALITY = 70


def thumbnail(image: np.ndarray, width: int = THUMB_WIDTH) -> bytes:
    """``image`` (BGR) scaled to ``width`` (never up) as JPEG bytes."""
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, h * width // w)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return data.tobytes() if ok else b""


def fit_into(image: np.ndarray, out: np.ndarray, *, stretch: bool = False) -> None:
    """``image`` scaled into ``out`` (BGR, any size), aspect ratio kept: centred, with
    black bars where the aspect ratios differ; ``stretch``: to all of ``out``."""
    height, width = out.shape[:2]
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w = max(1, min(width, round(w * scale)))
    new_h = max(1, min(height, round(h * scale)))
    if stretch or (new_w, new_h) == (width, height):
        cv2.resize(image, (width, height), dst=out, interpolation=cv2.INTER_AREA)
        return
    x, y = (width - new_w) // 2, (height - new_h) // 2
    out[...] = 0
    out[y:y + new_h, x:x + new_w] = cv2.resize(image, (new_w, new_h),
                                               interpolation=cv2.INTER_AREA)


class ConsoleSink(Sink):
    """Stream ``stream``'s pictures (only while watched) and events, to the console."""

    wants_image = True
    wants_events = True

    def __init__(self, *, link: ConsoleLink, stream: int, camera: str) -> None:
        self.link, self.stream, self.camera = link, stream, camera
        self._period = 1.0 / link.fps
        self._next = 0.0
        self._image: np.ndarray | None = None
        self._image_frame = -1

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if meta.stream != self.stream or image is None:
            return
        self._image, self._image_frame = image, meta.frame  # for an event's thumbnail
        if not self.link.watch[self.stream]:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._period
        self._publish(meta, image)

    def _publish(self, meta: FrameMeta, image: np.ndarray) -> None:
        ring = self.link.previews[self.stream]
        got = ring.acquire_write(0.0)  # drop_oldest: takes a free or the oldest unread slot
        if got is None:
            return  # the parent holds every slot: skip this picture
        slot, _ = got
        width, height = self.link.sizes[self.stream]
        out = ring.array(slot, (height, width, 3), np.uint8)
        fit_into(image, out, stretch=self._made_for(image))
        ring.publish(slot, PreviewHeader(meta.frame, meta.wall, height, width))

    def _made_for(self, image: np.ndarray) -> bool:
        """Whether the preview's size was made for frames of ``image``'s size (its
        picture fills the preview, as it did at the start)."""
        frames = self.link.frames
        return frames is not None and frames[self.stream] == image.shape[1::-1]

    def write_events(self, meta: FrameMeta, events: Sequence[Any]) -> None:
        if meta.stream != self.stream or not events:
            return
        image = self._image if self._image_frame == meta.frame else None
        thumb = thumbnail(image) if image is not None else b""
        for event in events:
            record = {**event.to_json(), "camera": self.camera}
            try:
                self.link.events.put_nowait((self.stream, record, thumb))
            except queue.Full:
                self.link.dropped_events[self.stream] += 1

    def close(self) -> None:
        self._image = None
        self.link.detach()  # the runner detaches the stage's own rings, not a sink's
        # Events still in the pipe must not hold this process at exit (the parent may be gone).
        self.link.events.cancel_join_thread()

