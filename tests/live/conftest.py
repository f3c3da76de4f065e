"""Fixtures of the live tests: real RTSP test cameras need GStreamer and the shared video."""

from __future__ import annotations

import pytest

from tests.live.camera import VTEST, rtsp_available


@pytest.fixture
def rtsp_vtest() -> None:
    """Skips, with the reason, when the RTSP test server or ../shared's vtest.mp4 is missing."""
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(f"no RTSP test server: {reason}")
    if not VTEST.exists():
        pytest.skip("needs ../shared/media/vtest.mp4 (the shared data folder)")
