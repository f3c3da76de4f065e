"""streampose.sources.video: VideoFileSource, its error messages and pts, on tiny videos."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import pytest

from streampose.errors import ConfigError, SourceError, SourceNotFoundError
from streampose.sources import (
    MonotonicPts,
    VideoFileSource,
    create_source,
    open_source,
    probe_video,
)
from streampose.sources.video import stored_rotation
from tests.support.media import (
    H,
    W,
    assert_close,
    make_audio,
    make_pattern_video,
    make_rotated_video,
    make_video,
    pattern,
    read_all,
    square_frame,
)
from tests.support.shared import shared_file

# -- VideoFileSource -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "suffix", "time_base"),
    [
        ("libx264", ".mp4", Fraction(1, 10240)),
        ("mpeg4", ".mkv", Fraction(1, 1000)),
        ("mpeg4", ".avi", Fraction(1, 10)),
    ],
)
def test_video_source_reads_every_frame(
    tmp_path: Path, codec: str, suffix: str, time_base: Fraction
) -> None:
    path = make_pattern_video(tmp_path / f"clip{suffix}", 12, codec=codec)
    frames = read_all(path)[1]
    assert [f.index for f in frames] == list(range(12))
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    for f in frames:
        assert f.image.dtype == np.uint8 and f.image.flags.c_contiguous
        assert_close(f.image, pattern(f.index))
    with VideoFileSource(path=path, threads=1) as again:
        info = again.info
    assert (info.width, info.height, info.fps, info.frames) == (W, H, 10, 12)
    assert info.time_base == time_base and not info.live and info.uri == str(path)


def test_frames_are_contiguous_whatever_the_width(tmp_path: Path) -> None:
    path = make_pattern_video(tmp_path / "w34.mkv", 1, codec="mpeg4", width=34)
    (frame,) = read_all(path)[1]  # swscale pads rows of 34 * 3 bytes to 144
    assert frame.image.flags.c_contiguous and frame.image.shape == (H, 34, 3)
    assert_close(frame.image, pattern(0, 34))


def test_video_source_open_is_idempotent_and_close_is_safe(tmp_path: Path) -> None:
    source = VideoFileSource(path=make_pattern_video(tmp_path / "a.mp4", 3))
    assert source.open() is source.open()
    assert sum(1 for _ in source.frames()) == 3
    source.close()
    source.close()
    assert sum(1 for _ in source.frames()) == 3  # reopens
    source.close()


def test_close_during_iteration_ends_it(tmp_path: Path) -> None:
    source = VideoFileSource(path=make_pattern_video(tmp_path / "a.mp4", 5))
    frames = source.frames()
    next(frames)
    source.close()
    assert list(frames) == []


# -- error messages --------------------------------------------------------------------


def _text_as_mp4(tmp: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 20)
    return path


def _empty_file(tmp: Path) -> Path:
    (tmp / "e.mp4").touch()
    return tmp / "e.mp4"


def _empty_dir(tmp: Path) -> Path:
    (tmp / "frames").mkdir()
    (tmp / "frames" / "readme.txt").write_text("no images here")
    return tmp / "frames"


SOURCE_ERRORS: list[tuple[str, Callable[[Path], Path], type[Exception], str]] = [
    ("missing", lambda t: t / "missing.mp4", SourceNotFoundError, r"missing\.mp4: no such file$"),
    ("empty", _empty_file, SourceError, r"e\.mp4: file is empty$"),
    ("text renamed .mp4", _text_as_mp4, SourceError, r"notes\.mp4: not a video file \(.+\)$"),
    ("audio only, aac", lambda t: make_audio(t / "a.m4a", "aac"), SourceError,
     r"a\.m4a: has no video stream"),
    ("audio only, mp2", lambda t: make_audio(t / "a.mkv", "mp2"), SourceError,
     r"a\.mkv: has no video stream"),
    ("dir without images", _empty_dir, SourceError, r"frames: no images found"),
    ("glob matching nothing", lambda t: t / "*.png", SourceError, r"\*\.png: no images found"),
    ("missing image", lambda t: t / "x.jpg", SourceNotFoundError, r"x\.jpg: no such file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [case[1:] for case in SOURCE_ERRORS],
    ids=[case[0] for case in SOURCE_ERRORS],
)
def test_source_errors_are_one_clear_line(
    tmp_path: Path, make: Callable[[Path], Path], error: type[Exception], message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=message) as e:
        open_source(str(path))
    assert "\n" not in str(e.value) and str(e.value).startswith(str(path))
    assert not isinstance(e.value, av.error.FFmpegError)


def test_missing_file_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        VideoFileSource(path=tmp_path / "nope.mp4").open()


def test_not_a_video_keeps_the_pyav_error_as_cause(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as e:
        VideoFileSource(path=_text_as_mp4(tmp_path)).open()
    assert isinstance(e.value.__cause__, av.error.FFmpegError)


@pytest.mark.parametrize(
    ("uri", "message"),
    [("rtsp://cam/1", "is a URL"), (".", "is a directory")],
)
def test_video_source_rejects_non_files(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        VideoFileSource(path=uri).open()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"threads": -1}, "threads"), ({"convert_threads": 1.5}, "convert_threads")],
)
def test_video_source_checks_its_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} = "):
        VideoFileSource(path="x.mp4", **kwargs)


# -- pts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([None, None, None], [0, 10, 20]),
        ([0, 10, 10, 30], [0, 10, 20, 30]),
        ([5, 3, 40, None], [5, 15, 40, 50]),
        ([7, 8, 9], [7, 8, 9]),
    ],
)
def test_monotonic_pts(given: list, expected: list) -> None:
    clock = MonotonicPts(step=10, what="test")
    assert [clock.next(p) for p in given] == expected


# -- real media in ../shared -----------------------------------------------------------

SHARED_MEDIA = [
    ("vtest.mp4", 480, 360, 10, 795),
    ("street_5f.mp4", 960, 540, 5, 5),
    ("posetrack_5f_mpeg4.mp4", 1280, 720, 30, 5),
]



@pytest.mark.shared
@pytest.mark.parametrize(("name", "width", "height", "fps", "frames"), SHARED_MEDIA)
def test_shared_media_info(name: str, width: int, height: int, fps: int, frames: int) -> None:
    path = shared_file(f"media/{name}")
    with open_source(path) as source:
        info = source.info
        assert (info.width, info.height, info.fps, info.frames) == (width, height, fps, frames)
        if frames <= 5:
            decoded = list(source.frames())
            assert len(decoded) == frames
            assert decoded[0].image.shape == (height, width, 3)
    assert probe_video(path) == (frames, fps, width, height)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_display_matrix_turns_the_pictures_upright(tmp_path: Path, rotation: int) -> None:
    upright = [square_frame((48, 80), (0.25, 0.3), 12) for _ in range(3)]
    path = make_rotated_video(tmp_path / "phone.mp4", upright, rotation)
    assert stored_rotation(path) == rotation
    with VideoFileSource(path=path) as source:
        info, frames = source.info, list(source.frames())
    assert (info.width, info.height, info.rotation) == (48, 80, rotation)
    for frame in frames:
        assert frame.image.flags.c_contiguous
        assert_close(frame.image, upright[0])


def test_autorotate_off_keeps_the_stored_pictures(tmp_path: Path) -> None:
    upright = [square_frame((48, 80), (0.25, 0.3), 12) for _ in range(2)]
    source = create_source(make_rotated_video(tmp_path / "phone.mp4", upright, 90),
                           autorotate=False)
    with source:
        info, frames = source.info, list(source.frames())
    assert (info.width, info.height, info.rotation, info.display_rotation) == (80, 48, 0, 90)
    assert_close(frames[0].image, np.rot90(upright[0], -1))


def test_a_legacy_rotate_tag_turns_the_pictures_too(tmp_path: Path) -> None:
    path = tmp_path / "tagged.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata["rotate"] = "90"  # clockwise, as the tag says it
        image = square_frame((64, 48), (0.25, 0.25), 8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    assert stored_rotation(path) == 270  # counter-clockwise
    with VideoFileSource(path=path) as source:
        [frame] = list(source.frames())
    assert_close(frame.image, np.rot90(image, -1))


def test_a_file_without_display_matrix_is_not_turned(tmp_path: Path) -> None:
    path = make_video(tmp_path / "plain.mp4", frames=2)
    assert stored_rotation(path) == 0
    assert stored_rotation(tmp_path / "missing.mp4") == 0
