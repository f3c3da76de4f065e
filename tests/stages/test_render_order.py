"""Render's re-ordering: each stream's results in ticket order, streams independent."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from streampose.stages.render_order import TicketOrder
from streampose.transport.messages import FrameHeader, PoseResult


def item(stream: int, ticket: int) -> PoseResult:
    return PoseResult(FrameHeader(stream=stream, seq=ticket, ticket=ticket))


def taken(order: TicketOrder, stream: int) -> list[int]:
    return [r.header.ticket for r in order.ready(stream)]


def test_a_result_waits_for_every_earlier_ticket_of_its_stream() -> None:
    order = TicketOrder(streams=2)
    order.put(item(0, 2))
    order.put(item(0, 1))
    assert taken(order, 0) == [] and order.waiting(0) == 2
    order.put(item(1, 0))  # another stream is not held back
    assert taken(order, 1) == [0]
    order.put(item(0, 0))
    assert taken(order, 0) == [0, 1, 2] and order.waiting(0) == 0
    order.put(item(0, 3))
    assert taken(order, 0) == [3]


def test_a_result_is_taken_out_as_it_is_handed_over() -> None:
    order = TicketOrder(streams=1)
    for ticket in (0, 1):
        order.put(item(0, ticket))
    ready = order.ready(0)
    assert next(ready).header.ticket == 0 and order.waiting(0) == 1
    order.put(item(0, 2))  # came while the first one was handled
    assert [r.header.ticket for r in ready] == [1, 2]


def part(stream: int, ticket: int, index: int, items: int, people: int = 1) -> PoseResult:
    """One of a frame's ``items`` work-item results."""
    header = FrameHeader(stream=stream, seq=ticket, ticket=ticket, item=index, items=items)
    return PoseResult(header, np.full((people, 18, 3), index + 1, np.float32),
                      np.ones(people, np.float32))


def joined(results: Sequence[PoseResult]) -> PoseResult:
    """A stand-in merge: every item's people, and which items were given, in order."""
    assert results[0].keypoints is not None
    merged = np.concatenate([r.keypoints for r in results if r.keypoints is not None])
    return PoseResult(results[0].header, merged, np.ones(len(merged), np.float32))


def test_a_frame_s_items_are_merged_once_all_came_in_item_order() -> None:
    order = TicketOrder(streams=1, merge=joined)
    order.put(part(0, 0, 2, 3))
    order.put(part(0, 0, 0, 3))
    assert taken(order, 0) == [] and order.partial(0) == 1 and order.waiting(0) == 0
    order.put(part(0, 1, 0, 1))  # a whole frame behind it waits for its turn
    assert taken(order, 0) == [] and order.waiting(0) == 1
    order.put(part(0, 0, 1, 3))
    ready = list(order.ready(0))
    assert [r.header.ticket for r in ready] == [0, 1] and order.partial(0) == 0
    assert ready[0].keypoints is not None
    assert ready[0].keypoints[:, 0, 0].tolist() == [1.0, 2.0, 3.0]  # items 0, 1, 2
    assert ready[1] is not None and ready[1].keypoints is not None
    assert ready[1].keypoints.shape == (1, 18, 3)  # a single item is not merged


def test_items_of_several_frames_and_streams_in_any_order() -> None:
    order = TicketOrder(streams=2, merge=joined)
    parts = [part(s, t, i, 4) for s in (0, 1) for t in range(3) for i in range(4)]
    random.Random(3).shuffle(parts)
    out: dict[int, list[int]] = {0: [], 1: []}
    for p in parts:
        order.put(p)
        out[p.header.stream] += taken(order, p.header.stream)
    assert out == {0: [0, 1, 2], 1: [0, 1, 2]}


def test_several_items_need_a_merge() -> None:
    order = TicketOrder(streams=1)
    order.put(part(0, 0, 0, 2))
    with pytest.raises(RuntimeError, match="a frame of 2 work items, and no merge"):
        order.put(part(0, 0, 1, 2))
