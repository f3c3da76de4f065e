"""Each camera's state for its status messages, from the shared counters.

A camera is ``online`` while frames come in; a live one that has given no frame for
``stale_s`` seconds is ``reconnecting`` (its decoder is reconnecting, or the camera went
quiet); one whose stream has ended is ``offline``. Files never reconnect: they are
online until they end. ``moved`` is for a fleet (a camera now served by another node).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MOVED", "OFFLINE", "ONLINE", "RECONNECTING", "STATES", "CameraStates"]

ONLINE, RECONNECTING, OFFLINE, MOVED = "online", "reconnecting", "offline", "moved"
STATES = (ONLINE, RECONNECTING, OFFLINE, MOVED)


class CameraStates:
    """Tracks when each camera last gave a frame; ``update`` gives every state.

    ``live``: which cameras are live; ``started``: the run's start (a camera that has
    given nothing yet counts from then, so a slow start-up shows ``reconnecting`` only
    after ``stale_s``).
    """

    def __init__(self, *, live: Sequence[bool], stale_s: float, started: float) -> None:
        self.live, self.stale_s = list(live), stale_s
        self._frames = [0] * len(self.live)
        self._last_frame = [started] * len(self.live)

    def update(self, now: float, frames_in: Sequence[int],
               ended: Sequence[bool]) -> list[str]:
        """The states at ``now`` (monotonic s), given each camera's frames so far and
        whether its stream has ended."""
        states = []
        for i, frames in enumerate(frames_in):
            if frames != self._frames[i]:
                self._frames[i], self._last_frame[i] = frames, now
            if ended[i]:
                states.append(OFFLINE)
            elif self.live[i] and now - self._last_frame[i] > self.stale_s:
                states.append(RECONNECTING)
            else:
                states.append(ONLINE)
        return states
