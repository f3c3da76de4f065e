"""Shared fixtures: the ../shared data folder (tests needing it skip when absent), in-memory
rings and a stage control for calling stages in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (the shared data folder beside the checkout)")
    return path


@pytest.fixture
def server():
    """A local HTTP server (127.0.0.1) holding ``weights.bin`` (the download tests)."""
    from tests.test_download import PAYLOAD, running_server

    with running_server({"weights.bin": PAYLOAD}) as local:
        yield local


@pytest.fixture
def refused_url():
    """A loopback URL nothing listens on: the offline case."""
    from tests.test_download import refusing_url

    with refusing_url() as url:
        yield url


@pytest.fixture
def make_ring():
    """Factory of real in-memory SharedRings (spawn context, the frame codec by default);
    every ring made is closed and unlinked after the test."""
    import multiprocessing

    from streampose.stages.messages import FRAME_CODEC
    from streampose.transport.ring import SharedRing

    rings: list[SharedRing] = []

    def make(**kwargs: Any) -> SharedRing:
        kwargs.setdefault("name", f"test{len(rings)}")
        kwargs.setdefault("codec", FRAME_CODEC)
        kwargs.setdefault("ctx", multiprocessing.get_context("spawn"))
        rings.append(SharedRing.create(**kwargs))
        return rings[-1]

    yield make
    for ring in rings:
        ring.close()
        ring.unlink()


@pytest.fixture
def stage_control():
    """A StageControl for calling a stage in-process (open/step/close by hand)."""
    import os
    import queue
    import threading

    from streampose.runtime.stage import StageControl

    return StageControl(stop=threading.Event(), stop_sources=threading.Event(),
                        errors=queue.Queue(), reports=queue.Queue(), parent_pid=os.getppid())


@pytest.fixture
def free_slots():
    """``free_slots(ring)``: how many slots of a block-policy ring are free right now
    (takes them all without waiting, then gives them back)."""

    def count(ring: Any) -> int:
        taken = []
        while (got := ring.acquire_write(0)) is not None:
            taken.append(got[0])
        for slot in taken:
            ring.release(slot)
        return len(taken)

    return count
