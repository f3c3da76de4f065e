"""Console fixtures: a real ConsoleLink over in-memory rings (spawn context)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest

from streampose.console.link import ConsoleLink
from streampose.transport.ring import SharedRing


class _Maker:
    """Makes rings the way the supervisor does, and unlinks them afterwards."""

    def __init__(self) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.rings: list[SharedRing] = []

    def ring(self, **kwargs: Any) -> SharedRing:
        kwargs["name"] = f"console-test-{len(self.rings)}-{kwargs['name']}"
        self.rings.append(SharedRing.create(ctx=self.ctx, **kwargs))
        return self.rings[-1]


@pytest.fixture
def make_link() -> Iterator[Any]:
    """``make_link(streams=2, size=(320, 240), fps=2.0, max_width=160, events_max=64)``."""
    maker = _Maker()

    def make(*, streams: int = 2, size: tuple[int, int] = (320, 240), fps: float = 2.0,
             max_width: int = 160, events_max: int = 64) -> ConsoleLink:
        link = ConsoleLink.create(maker, [size] * streams, max_width=max_width, fps=fps)
        if events_max != 64:
            link.events = maker.ctx.Queue(maxsize=events_max)
        return link

    yield make
    for ring in maker.rings:
        ring.close()
        ring.unlink()


