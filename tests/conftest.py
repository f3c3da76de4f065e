"""Shared fixtures; the factories behind them live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PAYLOAD, LocalServer, make_video, refusing_url, running_server


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
    """A 12-frame 96x64 H.264 clip at 10 fps (``helpers.make_video``)."""
    return make_video(tmp_path / "clip.mp4")
