"""streampose.sources: open_source/create_source dispatch, probe_source, and the URI rules."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streampose.config.sections import LiveConfig
from streampose.errors import ConfigError, SourceError, SourceNotFoundError
from streampose.sources import (
    LIVE_TIME_BASE,
    ImageSource,
    LiveSource,
    VideoFileSource,
    create_source,
    is_image_uri,
    is_live_uri,
    open_source,
    probe_source,
    redact,
)
from streampose.sources.probe import LIVE_DEFAULT_SIZE
from streampose.uri import is_url
from tests.support.media import H, W, make_pattern_video, write_image
from tests.support.ports import free_port

QUICK = LiveConfig(open_timeout_s=2.0, read_timeout_s=2.0)


def refused_url() -> str:
    """An RTSP URL on a loopback port nothing listens on."""
    return f"rtsp://user:secret@127.0.0.1:{free_port()}/cam"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("dir", ImageSource),
        ("*.png", ImageSource),
        ("one.png", ImageSource),
        ("clip.mp4", VideoFileSource),
    ],
)
def test_open_source_dispatch(tmp_path: Path, name: str, kind: type) -> None:
    (tmp_path / "dir").mkdir()
    for image in (tmp_path / "dir" / "x.png", tmp_path / "one.png"):
        write_image(image, 9)
    make_pattern_video(tmp_path / "clip.mp4", 2)
    source = open_source(str(tmp_path / name))
    assert isinstance(source, kind) and source.info.width == W
    source.close()


@pytest.mark.parametrize("uri", ["rtsp://cam/1", "http://host/stream.mjpg", "/dev/video0", "0"])
def test_live_uris_give_a_live_source_configured_by_live(uri: str) -> None:
    source = create_source(uri, threads=3, live=QUICK)
    assert isinstance(source, LiveSource) and source.config is QUICK and source.threads == 3


def test_open_source_of_a_dead_camera_is_one_clear_line() -> None:
    url = refused_url()
    with pytest.raises(SourceError, match=r"^rtsp://user:\*\*\*@127\.0\.0\.1:\d+/cam: cannot "
                                          r"open \(") as e:  # fmt: skip
        open_source(url, live=QUICK)
    assert "secret" not in str(e.value) and "\n" not in str(e.value)


def test_probe_of_files_and_images(tmp_path: Path) -> None:
    video = probe_source(str(make_pattern_video(tmp_path / "clip.mp4", 3)))
    assert (video.sizes, video.names, video.live, video.is_images) == (((W, H),), None, False,
                                                                       False)  # fmt: skip
    assert video.info.frames == 3 and video.stem == "clip"
    for i, name in enumerate(("b.png", "a.png")):
        write_image(tmp_path / name, 9, (W + i, H))
    images = probe_source(str(tmp_path / "*.png"))
    assert images.names == ("a.png", "b.png") and images.sizes == ((W + 1, H), (W, H))
    assert images.is_images


def test_probe_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="no such file"):
        probe_source(str(tmp_path / "missing.mp4"))


def test_probe_of_a_dead_camera_starts_anyway(caplog: pytest.LogCaptureFixture) -> None:
    url = refused_url()
    with caplog.at_level(logging.WARNING):
        probed = probe_source(url, live=QUICK)
    assert probed.live and probed.sizes == (LIVE_DEFAULT_SIZE,) and probed.names is None
    info = probed.info
    assert (info.width, info.height) == LIVE_DEFAULT_SIZE and info.time_base == LIVE_TIME_BASE
    assert info.uri == redact(url) and info.frames is None and info.live
    assert "not reachable yet; will keep retrying" in caplog.text
    assert "secret" not in caplog.text


def test_probe_of_a_dead_camera_without_reconnect_is_a_source_error() -> None:
    url = refused_url()
    no_retry = LiveConfig(open_timeout_s=2.0, read_timeout_s=2.0, reconnect=False)
    with pytest.raises(SourceError, match="cannot open") as err:
        probe_source(url, live=no_retry)
    assert err.value.exit_code == 3 and "secret" not in str(err.value)


def test_probe_of_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^rtsp://\[::1: malformed URL"):
        probe_source("rtsp://[::1")


# -- URI rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "live"),
    [
        ("rtsp://cam/1", True), ("RTSPS://cam/1", True), ("http://h/x.mjpg", True),
        ("srt://h:1", True), ("udp://@:1234", True), ("/dev/video2", True), ("0", True),
        ("file:///x.mp4", False), ("clip.mp4", False), ("/dev/video", False), ("12a", False),
    ],
)  # fmt: skip
def test_is_live_uri(uri: str, live: bool) -> None:
    assert is_live_uri(uri) is live


def test_is_url_and_is_image_uri(tmp_path: Path) -> None:
    assert is_url("file:///x") and is_url("s3+x://b") and not is_url("C:/x.mp4")
    assert is_image_uri(tmp_path) and is_image_uri(tmp_path / "*.jpg")
    assert is_image_uri("x.PNG") and not is_image_uri("x.mp4")


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("rtsp://user:secret@cam:554/x", "rtsp://user:***@cam:554/x"),
        ("rtsp://token@cam/x", "rtsp://***@cam/x"),
        ("rtsp://cam/x", "rtsp://cam/x"),
        ("clip.mp4", "clip.mp4"),
    ],
)
def test_redact_hides_credentials(uri: str, shown: str) -> None:
    assert redact(uri) == shown
