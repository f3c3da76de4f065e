"""Render's re-ordering: each stream's results in ticket order, streams independent."""

from __future__ import annotations

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
