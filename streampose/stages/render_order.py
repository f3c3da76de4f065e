"""Render's re-ordering: each stream's results back in ``ticket`` order, one per frame.

Postprocess workers finish a stream's frames in any order; render takes them in the
order preprocess numbered them (``FrameHeader.ticket``), one stream independently of the
others (a stream waiting for a late result holds back no other stream). A frame cut
into several work items (tiles, regions) gives one result per item, all with the
frame's ticket: its turn comes once all ``header.items`` of them are in, merged into
one (``merge``, :class:`~streampose.stages.item_merge.ItemMerge`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from streampose.transport.messages import PoseResult

__all__ = ["TicketOrder"]

Merge = Callable[[Sequence[PoseResult]], PoseResult]


class TicketOrder:
    """Results held per stream until every earlier ticket of that stream came.

    ``merge``: a frame's item results (in item order) -> its one result; needed only
    when frames give several items.
    """

    def __init__(self, *, streams: int, merge: Merge | None = None) -> None:
        self._pending: list[dict[int, PoseResult]] = [{} for _ in range(streams)]
        self._parts: list[dict[int, dict[int, PoseResult]]] = [{} for _ in range(streams)]
        self._next = [0] * streams
        self._merge = merge

    def put(self, result: PoseResult) -> None:
        """Hold ``result`` until its turn (an item until its frame's last one came)."""
        header = result.header
        if header.items > 1:
            whole = self._collect(result)
            if whole is None:
                return
            result = whole
        self._pending[header.stream][header.ticket] = result

    def _collect(self, result: PoseResult) -> PoseResult | None:
        """One item of a frame; the frame's merged result once all its items came."""
        header = result.header
        parts = self._parts[header.stream].setdefault(header.ticket, {})
        parts[header.item] = result
        if len(parts) < header.items:
            return None
        del self._parts[header.stream][header.ticket]
        if self._merge is None:
            raise RuntimeError(f"stream {header.stream}: a frame of {header.items} work "
                               "items, and no merge given")
        return self._merge([parts[i] for i in sorted(parts)])

    def ready(self, stream: int) -> Iterator[PoseResult]:
        """``stream``'s results whose turn came, in ticket order (each one taken out as
        it is handed over)."""
        pending = self._pending[stream]
        while self._next[stream] in pending:
            result = pending.pop(self._next[stream])
            self._next[stream] += 1
            yield result

    def waiting(self, stream: int) -> int:
        """How many of ``stream``'s results (whole frames) wait for an earlier one."""
        return len(self._pending[stream])

    def partial(self, stream: int) -> int:
        """How many of ``stream``'s frames wait for more of their items."""
        return len(self._parts[stream])
