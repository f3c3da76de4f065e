"""end_work: only the last peer to finish puts the end-of-work items, one per consumer."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

from streampose.runtime.stage import Stage
from streampose.stages.ending import end_work


def test_the_last_of_its_peers_puts_one_end_item_per_consumer(make_ring: Callable[..., Any]
                                                               ) -> None:
    ring = make_ring(slots=8, slot_bytes=16)
    finished = multiprocessing.get_context("spawn").Value("i", 0)
    end_work(Stage(), ring, finished=finished, peers=2, consumers=3)
    assert ring.acquire_read(0.0) is None  # one peer is still at work
    end_work(Stage(), ring, finished=finished, peers=2, consumers=3)
    headers = [ring.acquire_read(0.0) for _ in range(4)]
    assert [h[1].stream for h in headers[:3] if h is not None] == [-1, -1, -1]
    assert all(h is not None and h[1].eos for h in headers[:3]) and headers[3] is None


def test_the_only_peer_needs_no_shared_count(make_ring: Callable[..., Any]) -> None:
    ring = make_ring(slots=4, slot_bytes=16)
    end_work(Stage(), ring, finished=None, peers=1, consumers=1)
    got = ring.acquire_read(0.0)
    assert got is not None and got[1].stream == -1 and got[1].eos
