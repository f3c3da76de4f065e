"""What the parent and the render process share for the console.

Per stream: a small ``drop_oldest`` ring of scaled-down BGR pictures (created by the
supervisor like every ring, so it is unlinked like them), and a "watched" flag the parent
sets while someone looks at that camera. For all streams: a bounded queue of events
(with a JPEG thumbnail) and a count of the events dropped because it was full.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Protocol

from streampose.transport.ring import SharedRing

__all__ = ["PREVIEW_CODEC", "ConsoleLink", "PreviewHeader", "preview_size"]

PREVIEW_SLOTS = 3   # one being written, one filled, one read by the parent
EVENTS_QUEUE = 64   # events in flight to the parent; more are dropped and counted


@dataclass(frozen=True, slots=True)
class PreviewHeader:
    """One picture: source frame index, capture wall time, size."""

    frame: int
    wall: float
    height: int
    width: int


class _PreviewCodec:
    _fmt = struct.Struct("<qdii")

    @property
    def size(self) -> int:
        return self._fmt.size

    def pack_into(self, buf: memoryview, offset: int, header: PreviewHeader) -> None:
        self._fmt.pack_into(buf, offset, header.frame, header.wall, header.height, header.width)

    def unpack_from(self, buf: memoryview, offset: int) -> PreviewHeader:
        return PreviewHeader(*self._fmt.unpack_from(buf, offset))


PREVIEW_CODEC = _PreviewCodec()


def preview_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """``(width, height)`` of a picture at most ``max_width`` wide (never scaled up),
    aspect kept, both even and at least 2."""
    scale = min(1.0, max_width / width)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class RingMaker(Protocol):
    """What creates rings: the supervisor."""

    ctx: Any

    def ring(self, *, name: str, slots: int, slot_bytes: int, codec: Any,
             policy: str = "block") -> SharedRing: ...


class ConsoleLink:
    """The console's shared state; built in the parent, pickled into the render process.

    ``sizes[i]``: stream ``i``'s picture size ``(width, height)``, made for frames of
    ``frames[i]`` (None: not known; a frame of another aspect ratio is letterboxed into
    its picture); ``fps``: most pictures
    per second per stream; ``watch[i]``: non-zero while the parent wants pictures of
    stream ``i``; ``events``: ``(stream, record, thumbnail JPEG)`` tuples;
    ``dropped_events[i]``: events of stream ``i`` lost to a full queue.
    """

    def __init__(self, *, previews: list[SharedRing], sizes: list[tuple[int, int]],
                 fps: float, ctx: Any, events_max: int = EVENTS_QUEUE,
                 frames: list[tuple[int, int]] | None = None) -> None:
        self.previews, self.sizes, self.fps = previews, sizes, fps
        self.frames = frames
        n = len(previews)
        self.watch = ctx.Array("b", n, lock=False)
        self.dropped_events = ctx.Array("q", n, lock=False)
        self.events = ctx.Queue(maxsize=events_max)

    @classmethod
    def create(cls, maker: RingMaker, frame_sizes: list[tuple[int, int]], *,
               max_width: int, fps: float) -> ConsoleLink:
        """One preview ring per stream of ``frame_sizes`` ``(width, height)``."""
        sizes = [preview_size(w, h, max_width) for w, h in frame_sizes]
        rings = [maker.ring(name=f"preview{i}", slots=PREVIEW_SLOTS, slot_bytes=w * h * 3,
                            codec=PREVIEW_CODEC, policy="drop_oldest")
                 for i, (w, h) in enumerate(sizes)]
        return cls(previews=rings, sizes=sizes, fps=fps, ctx=maker.ctx,
                   frames=list(frame_sizes))

    @property
    def streams(self) -> int:
        return len(self.previews)

    def detach(self) -> None:
        """Close this process's mapping of the preview rings (idempotent; the supervisor
        still unlinks them). The render process calls it when its console sinks close."""
        for ring in self.previews:
            ring.close()
