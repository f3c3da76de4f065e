"""Shared fixtures (in-memory rings, a stage control, a local HTTP server, a test clip);
the factories behind them live in tests/support/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.alone import run_lock
from tests.support.coco4 import Coco4Eval, cached_coco4_eval
from tests.support.http_server import PAYLOAD, LocalServer, refusing_url, running_server
from tests.support.media import make_video
from tests.support.signals import signals_restored

# Marks of the tests that take seconds to minutes (real models, pipelines, live servers).
HEAVY_MARKS = ("slow", "shared", "live", "cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files holding a slow, shared, live or cluster test run first, each file's tests
    still together and in their order: with ``-n 2 --dist loadfile --no-loadscope-reorder``
    the long files start early and the many short ones fill in at the end, so both
    processes finish at about the same time."""
    heavy = {item.path for item in items
             if any(item.get_closest_marker(mark) for mark in HEAVY_MARKS)}
    items.sort(key=lambda item: item.path not in heavy)  # stable: the order is kept within


@pytest.fixture(autouse=True)
def _signals_as_they_were() -> Iterator[None]:
    """Each test leaves SIGINT, SIGTERM and SIGHUP and the signal mask as it found them:
    a child process inherits an ignored or blocked signal, and under ``-n 2`` a later
    test's Ctrl-C would be lost (``tests.support.signals``)."""
    with signals_restored():
        yield


@pytest.fixture(autouse=True)
def _alone_or_beside_others(request: pytest.FixtureRequest,
                            tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A test marked ``alone`` (a wall-clock bound that another test's CPU load beside it
    could break) runs while no other test of this run does: under pytest-xdist it holds a
    lock that every other test holds shared (``tests.support.alone``)."""
    if not hasattr(request.config, "workerinput"):  # one process: nothing runs beside it
        yield
        return
    exclusive = request.node.get_closest_marker("alone") is not None
    with run_lock(tmp_path_factory.getbasetemp().parent, exclusive=exclusive):
        yield


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local HTTP server (127.0.0.1) holding ``weights.bin`` (the download tests)."""
    with running_server({"weights.bin": PAYLOAD}) as local:
        yield local


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL nothing listens on: the offline case."""
    with refusing_url() as url:
        yield url


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 12-frame 96x64 H.264 clip at 10 fps (``tests.support.media.make_video``)."""
    return make_video(tmp_path / "clip.mp4")


@pytest.fixture
def make_ring():
    """Factory of real in-memory SharedRings (spawn context, the frame codec by default);
    every ring made is closed and unlinked after the test."""
    import multiprocessing

    from streampose.transport.messages import FRAME_CODEC
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

    from streampose.runtime.control import StageControl

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


@pytest.fixture(scope="session")
def coco4_eval(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Coco4Eval]:
    """``coco4_eval("openpose-mnv2s-coco18.onnx")``: ``streampose eval`` of that
    ../shared model on coco4 at its default size, run once and shared by every test that
    reads it (``tests.support.coco4``; skips without ../shared)."""
    return cached_coco4_eval(lambda: tmp_path_factory.mktemp("coco4"))
