"""Per-stream counters in shared memory, readable by the supervisor while the run goes on."""

from __future__ import annotations

from typing import Any

# decode_errors: damaged packets/frames or unreadable images skipped (sources/damage.py)
# carried: frames out whose poses were carried, not inferred (--interval); the inferred
# ones are frames_out - carried
FIELDS = ("frames_in", "frames_out", "dropped", "reconnects", "mqtt_dropped", "decode_errors",
          "events", "carried")


class StreamCounters:
    """int64 counters per (stream, field). Each field of a stream has one writer process."""

    def __init__(self, *, streams: int, ctx: Any) -> None:
        self.streams = streams
        self._values = ctx.Array("q", streams * len(FIELDS), lock=False)

    def add(self, stream: int, name: str, n: int = 1) -> None:
        self._values[stream * len(FIELDS) + FIELDS.index(name)] += n

    def get(self, stream: int, name: str) -> int:
        return int(self._values[stream * len(FIELDS) + FIELDS.index(name)])

    def snapshot(self) -> list[dict[str, int]]:
        return [{name: self.get(s, name) for name in FIELDS} for s in range(self.streams)]
