"""Render's re-ordering: each stream's results back in ``ticket`` order.

Postprocess workers finish a stream's frames in any order; render takes them in the
order decode numbered them (``FrameHeader.ticket``), one stream independently of the
others (a stream waiting for a late result holds back no other stream).
"""

from __future__ import annotations

from collections.abc import Iterator

from streampose.transport.messages import PoseResult

__all__ = ["TicketOrder"]


class TicketOrder:
    """Results held per stream until every earlier ticket of that stream came."""

    def __init__(self, *, streams: int) -> None:
        self._pending: list[dict[int, PoseResult]] = [{} for _ in range(streams)]
        self._next = [0] * streams

    def put(self, result: PoseResult) -> None:
        """Hold ``result`` until its turn."""
        self._pending[result.header.stream][result.header.ticket] = result

    def ready(self, stream: int) -> Iterator[PoseResult]:
        """``stream``'s results whose turn came, in ticket order (each one taken out as
        it is handed over)."""
        pending = self._pending[stream]
        while self._next[stream] in pending:
            result = pending.pop(self._next[stream])
            self._next[stream] += 1
            yield result

    def waiting(self, stream: int) -> int:
        """How many of ``stream``'s results wait for an earlier one."""
        return len(self._pending[stream])
