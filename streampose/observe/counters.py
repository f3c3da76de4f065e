"""Per-stream counters in shared memory, readable by the supervisor while the run goes on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# decode_errors: damaged packets/frames or unreadable images skipped (sources/damage.py)
# frames_inferred, work_items, frames_skipped: what the stream's preprocess shard made of
# each frame (ITEM_FIELDS, StreamCounters.items); carried: frames out whose poses render
# carried from the last inferred frame (--interval, or a still frame), not inferred;
# rescaled: frames larger than the stream's frame buffers (--max-frame-size), scaled down
# by decode to fit;
# frames_regions, regions, frames_still: the motion plans (--motion; MOTION_FIELDS,
# StreamCounters.motion): frames inferred on motion regions and their regions, frames
# skipped as still (among frames_skipped)
FIELDS = ("frames_in", "frames_out", "dropped", "reconnects", "mqtt_dropped", "decode_errors",
          "events", "frames_inferred", "work_items", "frames_skipped", "carried",
          "frames_regions", "regions", "frames_still", "rescaled")
ITEM_FIELDS = ("frames_inferred", "work_items", "frames_skipped")
MOTION_FIELDS = ("frames_regions", "regions", "frames_still")


class StreamCounters:
    """int64 counters per (stream, field). Each field of a stream has one writer process:
    the stream's decoder, its preprocess shard (``ITEM_FIELDS``, ``MOTION_FIELDS``) or
    its render shard."""

    def __init__(self, *, streams: int, ctx: Any) -> None:
        self.streams = streams
        self._values = ctx.Array("q", streams * len(FIELDS), lock=False)

    def add(self, stream: int, name: str, n: int = 1) -> None:
        self._values[stream * len(FIELDS) + FIELDS.index(name)] += n

    def items(self, stream: int, *, inferred: int) -> None:
        """One frame of ``stream`` given ``inferred`` work items the network runs on
        (regions, tiles or the whole frame); 0: a frame passed through uninferred (a
        still frame, an interval frame), counted as skipped."""
        if inferred > 0:
            self.add(stream, "frames_inferred")
            self.add(stream, "work_items", inferred)
        else:
            self.add(stream, "frames_skipped")

    def motion(self, stream: int, *, regions: int) -> None:
        """One frame of ``stream`` that motion regions did not infer whole: inferred on
        ``regions`` crops (their work items), or 0: skipped as still."""
        if regions > 0:
            self.add(stream, "frames_regions")
            self.add(stream, "regions", regions)
        else:
            self.add(stream, "frames_still")

    def get(self, stream: int, name: str) -> int:
        return int(self._values[stream * len(FIELDS) + FIELDS.index(name)])

    def snapshot(self) -> list[dict[str, int]]:
        return [{name: self.get(s, name) for name in FIELDS} for s in range(self.streams)]


def items_per_frame(counts: Mapping[str, Any]) -> float | None:
    """Work items per inferred frame of one stream's counts (None before any)."""
    frames = int(counts.get("frames_inferred", 0))
    return round(int(counts.get("work_items", 0)) / frames, 3) if frames else None


def regions_per_frame(counts: Mapping[str, Any]) -> float | None:
    """Motion regions per frame inferred on regions, of one stream's counts (None
    before any)."""
    frames = int(counts.get("frames_regions", 0))
    return round(int(counts.get("regions", 0)) / frames, 3) if frames else None
