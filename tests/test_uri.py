"""Camera names: short, unique, safe in topics and file names, never a credential."""

from __future__ import annotations

import pytest

from streampose.uri import camera_name, unique_names


@pytest.mark.parametrize(("uri", "name"), [
    ("rtsp://user:secret@cam7.local:8554/live/main", "cam7_local-live-main"),
    ("/videos/entrance.mp4", "entrance"),
    ("frames/", "frames"),
    ("0", "webcam0"),
    ("/dev/video2", "webcam2"),
    ("http://10.0.0.5/stream?token=abc", "10_0_0_5-stream"),
    ("rtsp://[::1", "camera"),
    ("weird name (1).mp4", "weird_name_1"),
])
def test_camera_name(uri: str, name: str) -> None:
    assert camera_name(uri) == name
    assert "secret" not in camera_name(uri)


def test_unique_names_suffixes_repeats_in_order() -> None:
    assert unique_names(["a", "b", "a", "a"]) == ("a", "b", "a-2", "a-3")


@pytest.mark.parametrize(("uri", "shown"), [
    ("rtsp://ann:pw@cam:554/live", "rtsp://ann:***@cam:554/live"),
    ("mqtt://ann:pw@broker:port/x", "mqtt://***@broker:port/x"),  # a bad port
    ("mqtt://ann:pw", "mqtt://***"),  # user:password without @host reads as host:port
    ("rtsp://cam/live", "rtsp://cam/live"),
])
def test_redact_hides_credentials_even_in_a_malformed_url(uri: str, shown: str) -> None:
    from streampose.uri import redact

    assert redact(uri) == shown
