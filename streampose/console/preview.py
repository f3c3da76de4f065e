"""The parent's side of the pictures: who watches which camera, and the newest JPEG.

Only while a camera has a viewer (a live connection, or a one-shot request in the last
few seconds) is its "watched" flag set, so the render process copies pictures at all.
:meth:`PreviewHub.jpeg` takes the newest picture from the stream's ring (older ones are
released unread) and encodes it once; every viewer gets those same bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from streampose.console.link import ConsoleLink

__all__ = ["Picture", "PreviewHub"]

JPEG_QUALITY = 75
ONE_SHOT_S = 3.0  # a one-shot request keeps the camera watched this long


@dataclass(frozen=True)
class Picture:
    """One encoded picture: its source frame index, capture wall time and JPEG bytes."""

    frame: int
    wall: float
    jpeg: bytes


class PreviewHub:
    """Watch counts and newest pictures per stream; thread-safe."""

    def __init__(self, link: ConsoleLink, *, clock: Callable[[], float] = time.monotonic,
                 quality: int = JPEG_QUALITY) -> None:
        self.link, self._clock, self.quality = link, clock, quality
        n = link.streams
        self._viewers = [0] * n
        self._until = [0.0] * n
        self._latest: list[Picture | None] = [None] * n
        self._lock = threading.Lock()
        self.encoded = 0  # pictures encoded so far (each one at most once)

    def attach(self, stream: int) -> None:
        """A viewer starts watching ``stream``."""
        with self._lock:
            self._viewers[stream] += 1
            self._refresh(stream)

    def detach(self, stream: int) -> None:
        """A viewer stops watching ``stream``."""
        with self._lock:
            self._viewers[stream] = max(0, self._viewers[stream] - 1)
            self._refresh(stream)

    def touch(self, stream: int) -> None:
        """A one-shot request: watch ``stream`` for the next few seconds."""
        with self._lock:
            self._until[stream] = self._clock() + ONE_SHOT_S
            self._refresh(stream)

    def expire(self) -> None:
        """Unset the flags of one-shot watches that have run out (call now and then)."""
        with self._lock:
            for stream in range(self.link.streams):
                self._refresh(stream)

    def watched(self, stream: int) -> bool:
        return bool(self.link.watch[stream])

    def _refresh(self, stream: int) -> None:
        on = self._viewers[stream] > 0 or self._clock() < self._until[stream]
        self.link.watch[stream] = 1 if on else 0

    def jpeg(self, stream: int) -> Picture | None:
        """The newest picture of ``stream`` (encoded now if a newer one arrived), or None."""
        with self._lock:
            fresh = self._newest(stream)
            if fresh is not None:
                self._latest[stream] = fresh
            return self._latest[stream]

    def _newest(self, stream: int) -> Picture | None:
        ring = self.link.previews[stream]
        newest = None
        while (got := ring.acquire_read(0.0)) is not None:
            if newest is not None:
                ring.release(newest[0])
            newest = got
        if newest is None:
            return None
        slot, header = newest
        try:
            image = ring.view(slot, (header.height, header.width, 3), np.uint8)
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            del image  # no view of the slot may outlive its release
        finally:
            ring.release(slot)
        if not ok:
            return None
        self.encoded += 1
        return Picture(header.frame, header.wall, data.tobytes())

    def stop(self) -> None:
        """Nobody watches any more (the server is closing)."""
        with self._lock:
            self._viewers = [0] * self.link.streams
            self._until = [0.0] * self.link.streams
            for stream in range(self.link.streams):
                self.link.watch[stream] = 0
