"""Shared fixtures (in-memory rings, a stage control, a local HTTP server, a test clip);
the factories behind them live in tests/support/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.coco4 import Coco4Eval, cached_coco4_eval
from tests.support.http_server import PAYLOAD, LocalServer, refusing_url, running_server
from tests.support.media import make_video


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
