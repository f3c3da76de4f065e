"""Shared fixtures: the ../shared data folder (tests needing it skip when absent)."""

from __future__ import annotations

from pathlib import Path

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
