"""Which frames of a stream the network runs on (``--interval``, DeepStream's ``interval``).

:class:`IntervalPolicy` is the decision, pure: a frame ``since`` frames after the
stream's last inferred frame is inferred when ``since > interval`` (``--interval 2``:
frames 0, 3, 6, ...); the first frame of a stream, or of a camera newly in its seat, is
always inferred. The frames between become pass-through work items
(:data:`~streampose.transport.messages.FLAG_PASS`): no network runs on them, and render
carries the last frame's tracked poses onto them (:mod:`streampose.pose.carry`).

:class:`Cadence` keeps, per stream, the frames since the last inferred one; preprocess
asks it once per frame, in the stream's order (where tickets are numbered). A later
``auto`` policy (a shorter interval when motion appears) is another ``infers`` that
also reads what the frame shows; the cadence stays.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cadence", "IntervalPolicy"]


@dataclass(frozen=True)
class IntervalPolicy:
    """``interval``: frames carried between two inferred frames (0: every frame inferred)."""

    interval: int = 0

    def infers(self, since: int | None) -> bool:
        """Whether the network runs on a frame ``since`` frames after the stream's last
        inferred one (None: no frame inferred yet)."""
        return since is None or since > self.interval


class Cadence:
    """Per stream: frames since the last inferred one, and the policy's decision."""

    def __init__(self, *, policy: IntervalPolicy, streams: int) -> None:
        self.policy = policy
        self._since: list[int | None] = [None] * streams

    def next(self, stream: int) -> bool:
        """Whether ``stream``'s next frame is inferred (call once per frame, in order)."""
        since = self._since[stream]
        if self.policy.infers(since):
            self._since[stream] = 1
            return True
        assert since is not None
        self._since[stream] = since + 1
        return False

    def restart(self, stream: int) -> None:
        """A new camera in ``stream``'s seat: its first frame is inferred."""
        self._since[stream] = None
