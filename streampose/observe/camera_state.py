"""Each camera's state, in one vocabulary, from its counters and the clock.

The state of a camera is computed once per supervisor tick (:class:`CameraStates`, owned
by :class:`streampose.observe.live.LiveView`) and put in that tick's snapshot; the
terminal status, the console, the Prometheus page, the MQTT status and a fleet node all
read it from there, so none of them can disagree with another on the same tick.

- ``starting``: no frame yet (a camera being started is not reconnecting);
- ``online``: frames arrive (a new one within ``stale_s``);
- ``reconnecting``: a live camera that gave frames and then none for ``stale_s``;
- ``stalled``: a file or image set that gives no new frame for ``stale_s`` with frames
  still in flight;
- ``offline``: a live camera whose decoder has ended (it gave up, or the run is ending);
- ``finished``: a file read to its end and every frame out.

A fleet extends the vocabulary (:data:`FLEET_STATES`): ``pending`` (no node has room for
the camera), ``moved`` (its node was lost; another node takes it), ``failing`` (the node's
pipeline keeps exiting soon after it starts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FAILING", "FINISHED", "FLEET_STATES", "MOVED", "OFFLINE", "ONLINE", "PENDING",
           "RECONNECTING", "STALE_S", "STALLED", "STARTING", "STATES", "CameraReading",
           "CameraStates", "camera_state"]

STARTING, ONLINE, RECONNECTING = "starting", "online", "reconnecting"
STALLED, OFFLINE, FINISHED = "stalled", "offline", "finished"
STATES = (STARTING, ONLINE, RECONNECTING, STALLED, OFFLINE, FINISHED)
PENDING, MOVED, FAILING = "pending", "moved", "failing"
FLEET_STATES = (*STATES, PENDING, MOVED, FAILING)

STALE_S = 5.0  # the default of ``[live] stall_timeout_s``: quiet this long is not online


@dataclass(frozen=True, kw_only=True)
class CameraReading:
    """One camera at one instant. ``last_frame``: when (monotonic s) its ``frames_in``
    last grew, None before its first frame; ``total``: the frames it will give, where
    known; ``ended``: whether its decoder has ended."""

    frames_in: int
    frames_out: int
    last_frame: float | None
    live: bool
    ended: bool = False
    total: int | None = None


def camera_state(reading: CameraReading, *, now: float, stale_s: float = STALE_S) -> str:
    """The state of ``reading`` at ``now`` (one of :data:`STATES`)."""
    r = reading
    if r.total is not None and r.frames_out >= r.total:
        return FINISHED
    if r.last_frame is None:
        return OFFLINE if r.ended else STARTING
    quiet = now - r.last_frame >= stale_s
    if r.live:
        if r.ended:
            return OFFLINE
        return RECONNECTING if quiet else ONLINE
    if r.frames_out >= r.frames_in and (r.ended or quiet):
        return FINISHED
    return STALLED if quiet else ONLINE


class CameraStates:
    """Remembers when each camera's ``frames_in`` last grew; :meth:`update` gives every
    camera's state. ``live``: which cameras are live; ``totals``: frames each will give,
    where known; ``stale_s``: the one staleness rule (``[live] stall_timeout_s``)."""

    def __init__(self, *, live: Sequence[bool], totals: Sequence[int | None] | None = None,
                 stale_s: float = STALE_S) -> None:
        self.live, self.stale_s = list(live), stale_s
        self.totals = list(totals) if totals is not None else [None] * len(self.live)
        self._frames = [0] * len(self.live)
        self._last: list[float | None] = [None] * len(self.live)
        self._new: set[int] = set()  # cameras restarted: their next count is a baseline

    def reading(self, i: int, counts: Mapping[str, Any], now: float,
                ended: bool = False) -> CameraReading:
        """Camera ``i``'s reading from its counters (``frames_in``, ``frames_out``)."""
        frames_in = int(counts.get("frames_in", 0))
        if i in self._new:
            self._new.discard(i)
            self._frames[i] = frames_in
        elif frames_in != self._frames[i]:
            self._frames[i], self._last[i] = frames_in, now
        return CameraReading(frames_in=frames_in, frames_out=int(counts.get("frames_out", 0)),
                             last_frame=self._last[i], live=self.live[i], ended=ended,
                             total=self.totals[i])

    def state(self, i: int, counts: Mapping[str, Any], now: float, ended: bool = False) -> str:
        return camera_state(self.reading(i, counts, now, ended), now=now, stale_s=self.stale_s)

    def update(self, now: float, counts: Sequence[Mapping[str, Any]],
               ended: Sequence[bool] | None = None) -> list[str]:
        """Every camera's state at ``now`` from its counters and whether its decoder
        has ended."""
        done = list(ended) if ended is not None else [False] * len(counts)
        return [self.state(i, c, now, done[i]) for i, c in enumerate(counts)]

    def restart(self, i: int) -> None:
        """Stream ``i`` now carries another camera (a seat whose counters go on):
        it is ``starting`` until its first frame of its own."""
        self._last[i] = None
        self._new.add(i)
