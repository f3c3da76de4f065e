"""Live decode: a camera's frames into its own frame ring, never blocking, reconnecting.

A reader thread owns the connection: it decodes, writes each frame into the stream's
ring with the ``drop_oldest`` policy (the oldest unprocessed frame makes room; when every
slot is in use downstream the new frame is dropped) and counts every drop. When the
source errors, ends (a live end is a disconnect) or stalls past ``stall_timeout_s``, it
reconnects with capped exponential backoff, alone: other streams are other processes.
The stage loop itself only watches the stop events, so shutdown never waits on the
network. Timestamps are wall-clock milliseconds since the stage opened, so they stay
monotonic across reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from streampose.config.sections import LiveConfig
from streampose.errors import SourceError
from streampose.media.live import LiveSource
from streampose.media.uri import redact
from streampose.observe.counters import StreamCounters
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.messages import (
    FLAG_DROPPED_BEFORE,
    FLAG_EOS,
    FLAG_RECONNECTED,
    FrameHeader,
)
from streampose.transport.ring import SharedRing

log = logging.getLogger(__name__)

LIVE_TIME_BASE = Fraction(1, 1000)


class LiveDecodeStage(Stage):
    """One live source -> its frame ring (drop_oldest), with reconnects and drop counts."""

    def __init__(self, *, stream: int, uri: str, ring: SharedRing, doorbell: Any,
                 counters: StreamCounters, options: LiveConfig, max_size: tuple[int, int],
                 max_frames: int | None = None, threads: int = 1) -> None:
        super().__init__()
        self.name = f"decode{stream}"
        self.stream, self.uri, self.ring, self.doorbell = stream, uri, ring, doorbell
        self.counters, self.options, self.max_size = counters, options, max_size
        self.max_frames, self.threads = max_frames, threads
        self._seq = 0
        self._flags = 0

    def open(self) -> None:
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._t0 = time.time()
        self._reader = threading.Thread(target=self._read_forever, name="reader", daemon=True)
        self._reader.start()

    def step(self) -> bool:
        time.sleep(POLL_S)
        finished = not self._reader.is_alive() or self.control.stop_sources.is_set()  # type: ignore[union-attr]
        if finished or self._reached_limit():
            self._finish()
            return False
        return True

    def _reached_limit(self) -> bool:
        return self.max_frames is not None and self._seq >= self.max_frames

    def _finish(self) -> None:
        with self._lock:
            self._halt.set()
            self._publish_eos()

    # -- reader thread ----------------------------------------------------------------

    def _wait_for_pipeline(self) -> None:
        """Connect once every stage is open: frames that arrive while the model loads
        would only be dropped (bounded: 60 s, then connect anyway)."""
        deadline = time.monotonic() + 60.0
        while not self.control.all_open() and time.monotonic() < deadline:  # type: ignore[union-attr]
            if self._halt.wait(0.05):
                return

    def _read_forever(self) -> None:
        self._wait_for_pipeline()
        attempt = 0
        while not self._halt.is_set():
            source = LiveSource(uri=self.uri, options=self.options, threads=self.threads)
            try:
                source.open()
                attempt = self._stream_frames(source, attempt)
            except SourceError as exc:
                log.warning("%s: %s", self.name, exc)
            finally:
                source.close()
            if not self.options.reconnect or self._halt.is_set():
                return
            attempt += 1
            delay = min(self.options.max_backoff_s, 0.5 * 2 ** min(attempt - 1, 10))
            log.warning("%s: %s lost; reconnecting in %.1f s (attempt %d)", self.name,
                        redact(self.uri), delay, attempt)
            self._halt.wait(delay)

    def _stream_frames(self, source: LiveSource, attempt: int) -> int:
        """Publish frames until the source ends; returns the updated attempt counter."""
        for image in source.frames():
            if attempt:
                log.warning("%s: reconnected to %s", self.name, redact(self.uri))
                self.counters.add(self.stream, "reconnects")
                self._flags |= FLAG_RECONNECTED
                attempt = 0
            if not self._offer(image):
                break
        log.warning("%s: %s ended the stream", self.name, redact(self.uri))
        return attempt

    def _offer(self, image: np.ndarray) -> bool:
        """Write one frame into the ring (dropping if needed); False once halted."""
        with self._lock:
            if self._halt.is_set():
                return False
            self.counters.add(self.stream, "frames_in")
            got = self.ring.acquire_write(0.0)
            if got is None:
                self._drop()
                return True
            slot, evicted = got
            if evicted is not None:
                self._drop()
            with self.busy():
                self._write(slot, self._fit(image))
            return True

    def _drop(self) -> None:
        self.counters.add(self.stream, "dropped")
        self._flags |= FLAG_DROPPED_BEFORE

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """Frames larger than the ring's slots (the camera changed resolution) are scaled."""
        max_w, max_h = self.max_size
        h, w = image.shape[:2]
        if w <= max_w and h <= max_h:
            return image
        scale = min(max_w / w, max_h / h)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _write(self, slot: int, image: np.ndarray) -> None:
        self.ring.array(slot, image.shape, image.dtype)[...] = image
        wall = time.time()
        h, w = image.shape[:2]
        self.ring.publish(slot, FrameHeader(
            stream=self.stream, seq=self._seq, pts=round((wall - self._t0) * 1000),
            time_base=LIVE_TIME_BASE, wall=wall, width=w, height=h, flags=self._flags,
            shape=image.shape, dtype="uint8"))
        self.doorbell.release()
        self._flags = 0
        self._seq += 1
        self.items += 1

    def _publish_eos(self) -> None:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not self.stopping():
            got = self.ring.acquire_write(POLL_S)
            if got is not None:
                self.ring.publish(got[0], FrameHeader(stream=self.stream, seq=self._seq,
                                                      flags=FLAG_EOS), pinned=True)
                self.doorbell.release()
                return
            time.sleep(POLL_S)
        log.warning("%s: could not queue the end of the stream", self.name)

    def close(self) -> None:
        self._halt.set()
