"""Camera names: short, unique, safe in topics and file names, never a credential."""

from __future__ import annotations

import pytest

from streampose.errors import ConfigError
from streampose.uri import camera_name, check_url, unique_names


@pytest.mark.parametrize(("uri", "name"), [
    ("rtsp://user:secret@cam7.local:8554/live/main", "cam7.local-8554-live-main"),
    ("rtsp://127.0.0.1:8554/cam0", "127.0.0.1-8554-cam0"),
    ("rtsp://admin:secret@[::1]:554/a b/../c", "1-554-a_b-..-c"),
    ("rtsp://secret@host/x", "host-x"),
    ("/videos/entrance.mp4", "entrance"),
    ("frames/", "frames"),
    ("0", "webcam0"),
    ("/dev/video2", "webcam2"),
    ("http://10.0.0.5/stream?token=abc", "10.0.0.5-stream"),
    ("rtsp://[::1", "camera"),
    ("weird name (1).mp4", "weird_name_1"),
])
def test_camera_name(uri: str, name: str) -> None:
    assert camera_name(uri) == name
    assert "secret" not in camera_name(uri)


def test_unique_names_suffixes_repeats_in_order() -> None:
    assert unique_names(["a", "b", "a", "a"]) == ("a", "b", "a-2", "a-3")


@pytest.mark.parametrize("uri", ["rtsp://cam/1", "rtsp://u:p@[::1]:8554/x", "udp://@:1234",
                                 "clip.mp4", "0", "/dev/video0", "imgs/*.jpg"])
def test_check_url_accepts(uri: str) -> None:
    check_url(uri)


@pytest.mark.parametrize(("uri", "message"), [
    ("rtsp://[::1", r"^rtsp://\[::1: malformed URL \(Invalid IPv6 URL\)$"),
    ("rtsp://u:secret@[::1/x", r"^rtsp://\*\*\*@\[::1/x: malformed URL"),
    ("rtsp:///live", r"malformed URL \(no host\)$"),
    ("http://cam:99999/x", r"malformed URL \(Port out of range"),
])
def test_check_url_refuses_with_one_line(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        check_url(uri)
    assert "secret" not in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("uri", "shown"), [
    ("rtsp://ann:pw@cam:554/live", "rtsp://ann:***@cam:554/live"),
    ("mqtt://ann:pw@broker:port/x", "mqtt://***@broker:port/x"),  # a bad port
    ("mqtt://ann:pw", "mqtt://***"),  # user:password without @host reads as host:port
    ("rtsp://cam/live", "rtsp://cam/live"),
])
def test_redact_hides_credentials_even_in_a_malformed_url(uri: str, shown: str) -> None:
    from streampose.uri import redact

    assert redact(uri) == shown
