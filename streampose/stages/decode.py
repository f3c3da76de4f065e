"""Decode: a source's frames into the frame ring, one copy, blocking when full (files)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from streampose.media import DecodedFrame, open_source
from streampose.observe.counters import StreamCounters
from streampose.runtime.stage import Stage
from streampose.stages.messages import FLAG_EOS, FrameHeader
from streampose.transport.ring import SharedRing

log = logging.getLogger(__name__)


class DecodeStage(Stage):
    """Reads one source and writes each frame into a slot of the frame ring.

    The slot is a lease: preprocess reads it in place and render releases it after the
    annotated frame is encoded. File sources block when the ring is full, so every frame
    comes out; the stream ends with an end-of-stream item.
    """

    def __init__(self, *, stream: int, uri: str, ring: SharedRing, doorbell: Any,
                 counters: StreamCounters, max_frames: int | None = None,
                 threads: int = 1) -> None:
        super().__init__()
        self.name = f"decode{stream}"
        self.stream, self.uri, self.ring, self.doorbell = stream, uri, ring, doorbell
        self.counters, self.max_frames, self.threads = counters, max_frames, threads
        self._frames: Iterator[DecodedFrame] | None = None
        self._source = None
        self._seq = 0

    def open(self) -> None:
        self._source = open_source(self.uri, threads=self.threads)
        self.time_base = self._source.info.time_base
        self._frames = self._source.frames()

    def step(self) -> bool:
        if self._finished():
            self._publish_eos()
            return False
        with self.busy():
            frame = next(self._frames, None)  # type: ignore[arg-type]
        if frame is None:
            self._publish_eos()
            return False
        slot = self.write_slot(self.ring)
        if slot is None:
            return False
        with self.busy():
            self._write(slot, frame)
        return True

    def _finished(self) -> bool:
        limit = self.max_frames is not None and self._seq >= self.max_frames
        return limit or self.control.stop_sources.is_set()  # type: ignore[union-attr]


    def _write(self, slot: int, frame: DecodedFrame) -> None:
        image = frame.image
        self.ring.array(slot, image.shape, image.dtype)[...] = image
        h, w = image.shape[:2]
        self.ring.publish(slot, FrameHeader(
            stream=self.stream, seq=self._seq, pts=frame.pts, time_base=self.time_base,
            wall=time.time(), width=w, height=h, shape=image.shape, dtype="uint8"))
        self.doorbell.release()
        self._seq += 1
        self.items += 1
        self.counters.add(self.stream, "frames_in")

    def _publish_eos(self) -> None:
        slot = self.write_slot(self.ring)
        if slot is not None:
            self.ring.publish(slot, FrameHeader(stream=self.stream, seq=self._seq,
                                                flags=FLAG_EOS), pinned=True)
            self.doorbell.release()

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
