"""Which frames of a stream the network runs on (``--interval``, DeepStream's ``interval``).

:class:`IntervalPolicy` is the fixed decision, pure: a frame ``since`` frames after the
stream's last inferred frame is inferred when ``since > interval`` (``--interval 2``:
frames 0, 3, 6, ...); the first frame of a stream, or of a camera newly in its seat, is
always inferred. The frames between become pass-through work items
(:data:`~streampose.transport.messages.FLAG_PASS`): no network runs on them, and render
carries the last frame's tracked poses onto them (:mod:`streampose.pose.carry`).

:class:`AutoIntervalPolicy` (``--interval auto``) also reads what the frame shows, a
:class:`FrameView` (:mod:`streampose.planning.frame_view` makes it): motion outside the
tracked people's boxes (someone new) has the frame inferred and the interval start
over at 0; the fastest tracked person's speed (box heights per frame) caps the
interval so that nobody moves more than ``drift`` box heights between two inferred
frames (fast: every frame); in a calm scene the interval grows by one at each inferred
frame, up to ``interval_max``. Both policies are pure: ``step`` takes the frames since
the last inferred one, the stream's current interval and the view, and returns the
decision and the interval to keep.

:class:`Cadence` keeps, per stream, the frames since the last inferred one and the
current interval; preprocess asks it once per frame, in the stream's order (where
tickets are numbered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from streampose.errors import ConfigError

__all__ = ["AUTO", "AutoIntervalPolicy", "Cadence", "FrameView", "IntervalPolicy", "Policy",
           "carries", "interval_policy"]

AUTO = "auto"  # --interval auto


@dataclass(frozen=True)
class FrameView:
    """What a frame shows, for :class:`AutoIntervalPolicy`: ``new_motion``: motion
    outside the tracked people's boxes (someone new); ``speed``: the fastest tracked
    person's displacement per frame, in box heights (None: unknown, nobody tracked)."""

    new_motion: bool = False
    speed: float | None = None


class Policy(Protocol):
    """A cadence's decision for one frame (pure)."""

    def step(self, since: int | None, current: int, view: FrameView | None
             ) -> tuple[bool, int]:
        """(whether the frame is inferred, the interval to keep) for a frame ``since``
        frames after the last inferred one (None: none yet), at interval ``current``."""
        ...


@dataclass(frozen=True)
class IntervalPolicy:
    """``interval``: frames carried between two inferred frames (0: every frame inferred)."""

    interval: int = 0

    def infers(self, since: int | None) -> bool:
        """Whether the network runs on a frame ``since`` frames after the stream's last
        inferred one (None: no frame inferred yet)."""
        return since is None or since > self.interval

    def step(self, since: int | None, current: int, view: FrameView | None
             ) -> tuple[bool, int]:
        """:meth:`infers`; the interval stays (``view`` is not read)."""
        return self.infers(since), self.interval


@dataclass(frozen=True)
class AutoIntervalPolicy:
    """``--interval auto`` (see the module doc): ``interval_max``: the most frames
    carried between two inferred ones; ``drift``: how far (box heights) the fastest
    tracked person may move from one inferred frame to the next."""

    interval_max: int = 2
    drift: float = 0.3

    def __post_init__(self) -> None:
        if not (isinstance(self.interval_max, int) and self.interval_max >= 0):
            raise ConfigError(f"interval auto: interval_max = {self.interval_max!r} must be "
                              "an integer >= 0")
        if not self.drift > 0:
            raise ConfigError(f"interval auto: drift = {self.drift!r} must be > 0")

    def allowed(self, speed: float | None) -> int:
        """The longest interval at ``speed`` (box heights per frame; None or 0: calm):
        the largest n <= ``interval_max`` with (n + 1) * speed <= ``drift``."""
        if not speed or speed <= 0:
            return self.interval_max
        spans = math.floor(self.drift / speed + 1e-9)  # frames apart; 1e-9: 0.15 / 0.05
        return max(0, min(self.interval_max, spans - 1))

    def step(self, since: int | None, current: int, view: FrameView | None
             ) -> tuple[bool, int]:
        """New motion: inferred, back to 0; else the interval is cut to what the speed
        allows at once, and grows by one at each inferred frame."""
        view = view or FrameView()
        if view.new_motion:
            return True, 0
        current = min(current, self.allowed(view.speed))
        if since is not None and since <= current:
            return False, current
        return True, min(current + 1, self.allowed(view.speed))


def interval_policy(interval: int | str, interval_max: int = 2) -> Policy:
    """The policy of ``[model].interval`` (an integer or ``"auto"``) and, for auto,
    ``[model].interval_max``."""
    if interval == AUTO:
        return AutoIntervalPolicy(interval_max=interval_max)
    if isinstance(interval, str | bool) or interval < 0:
        raise ConfigError(f"[model].interval = {interval!r}: expected an integer >= 0 or "
                          f"{AUTO!r}")
    return IntervalPolicy(interval)


def carries(interval: int | str) -> bool:
    """Whether ``[model].interval`` leaves frames to carry poses onto."""
    return interval == AUTO or (isinstance(interval, int) and interval > 0)


class Cadence:
    """Per stream: frames since the last inferred one, the current interval, and the
    policy's decision."""

    def __init__(self, *, policy: Policy, streams: int) -> None:
        self.policy = policy
        self._since: list[int | None] = [None] * streams
        self._current = [0] * streams

    def next(self, stream: int, view: FrameView | None = None) -> bool:
        """Whether ``stream``'s next frame is inferred (call once per frame, in order);
        ``view``: what the frame shows (read by ``auto`` only)."""
        since = self._since[stream]
        infer, self._current[stream] = self.policy.step(since, self._current[stream], view)
        if infer:
            self._since[stream] = 1
            return True
        assert since is not None
        self._since[stream] = since + 1
        return False

    def current(self, stream: int) -> int:
        """``stream``'s interval now (frames carried between two inferred ones)."""
        return self._current[stream]

    def restart(self, stream: int) -> None:
        """A new camera in ``stream``'s seat: its first frame is inferred."""
        self._since[stream] = None
        self._current[stream] = 0
