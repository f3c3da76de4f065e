"""streampose.media: sources and their error messages, on tiny generated videos."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np
import pytest

from streampose.errors import ConfigError, SourceError, SourceNotFoundError
from streampose.media import (
    DecodedFrame,
    ImageSource,
    SourceInfo,
    VideoFileSource,
    open_source,
    probe_video,
)
from streampose.media.source import MonotonicPts

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
W, H = 32, 24
TOLERANCE = 6  # mean absolute difference after a lossy yuv420p round trip


def pattern(i: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame ``i``: flat colours that change with the index (blue up, red down)."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 20 + 20 * (i % 11)
    image[..., 1] = 128
    image[..., 2] = 235 - 20 * (i % 11)
    return image


def make_video(
    path: Path, frames: int, *, codec: str = "libx264", fps: int = 10, width: int = W
) -> Path:
    """A tiny video written with PyAV alone (independent of VideoWriter)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, H, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width), format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_audio(path: Path, codec: str) -> Path:
    """An audio-only file: a few frames of silence."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=48000)
        samples = stream.codec_context.frame_size or 1152
        for i in range(4):
            frame = av.AudioFrame(format=stream.format.name, layout="mono", samples=samples)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = 48000, i * samples
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def read_all(path: Path) -> tuple[SourceInfo, list[DecodedFrame]]:
    """Info and every frame of a video file (closed afterwards)."""
    with VideoFileSource(path=path) as source:
        return source.info, list(source.frames())


def assert_close(image: np.ndarray, expected: np.ndarray) -> None:
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).mean() <= TOLERANCE


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
    path = make_video(tmp_path / f"clip{suffix}", 12, codec=codec)
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
    path = make_video(tmp_path / "w34.mkv", 1, codec="mpeg4", width=34)
    (frame,) = read_all(path)[1]  # swscale pads rows of 34 * 3 bytes to 144
    assert frame.image.flags.c_contiguous and frame.image.shape == (H, 34, 3)
    assert_close(frame.image, pattern(0, 34))


def test_video_source_open_is_idempotent_and_close_is_safe(tmp_path: Path) -> None:
    source = VideoFileSource(path=make_video(tmp_path / "a.mp4", 3))
    assert source.open() is source.open()
    assert sum(1 for _ in source.frames()) == 3
    source.close()
    source.close()
    assert sum(1 for _ in source.frames()) == 3  # reopens
    source.close()


def test_close_during_iteration_ends_it(tmp_path: Path) -> None:
    source = VideoFileSource(path=make_video(tmp_path / "a.mp4", 5))
    frames = source.frames()
    next(frames)
    source.close()
    assert list(frames) == []


class _FailingContainer:
    """Wraps a real container; its decoder fails after ``good`` frames."""

    def __init__(self, real: av.container.InputContainer, good: int) -> None:
        self.real, self.good = real, good

    def decode(self, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
        for i, frame in enumerate(self.real.decode(stream)):
            if i == self.good:
                raise av.error.InvalidDataError(-1094995529, "Invalid data found", "x")
            yield frame

    def close(self) -> None:
        self.real.close()


def test_decode_error_mid_file_names_file_and_frame(tmp_path: Path) -> None:
    path = make_video(tmp_path / "a.mp4", 5)
    source = VideoFileSource(path=path)
    source.open()
    source._container = _FailingContainer(source._container, good=2)
    frames = source.frames()
    assert [next(frames).index, next(frames).index] == [0, 1]
    with pytest.raises(SourceError, match=r"a\.mp4: decode error at frame 2: Invalid data") as e:
        next(frames)
    assert isinstance(e.value.__cause__, av.error.InvalidDataError)
    source.close()


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


# -- ImageSource -----------------------------------------------------------------------


def _write_image(path: Path, value: int, size: tuple[int, int] = (W, H)) -> None:
    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))


def test_image_folder_natural_order_and_mixed_sizes(tmp_path: Path) -> None:
    names = {"img10.png": 100, "img2.png": 20, "IMG3.PNG": 30, "img1.jpg": 10}
    for i, (name, value) in enumerate(names.items()):
        _write_image(tmp_path / name, value, (W + i, H))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _write_image(tmp_path / "sub" / "img0.png", 0)
    with ImageSource(path=tmp_path) as source:
        frames = list(source.frames())
        assert source.names == ["img1.jpg", "img2.png", "IMG3.PNG", "img10.png"]
        info = source.info
    assert (info.width, info.height, info.frames, info.fps) == (W + 3, H, 4, None)
    assert info.time_base == 1 and [f.pts for f in frames] == [0, 1, 2, 3]
    assert [f.image.shape[1] for f in frames] == [W + 3, W + 1, W + 2, W]
    assert [int(f.image.mean()) for f in frames] == pytest.approx([10, 20, 30, 100], abs=2)


def test_image_source_glob_and_single_file(tmp_path: Path) -> None:
    for name in ("b.png", "a.png", "c.jpg"):
        _write_image(tmp_path / name, 50)
    assert open_source(tmp_path / "*.png").names == ["a.png", "b.png"]
    single = open_source(tmp_path / "c.jpg")
    assert single.names == ["c.jpg"] and single.info.frames == 1


def test_unreadable_image_names_file_and_frame(tmp_path: Path) -> None:
    _write_image(tmp_path / "a.png", 1)
    (tmp_path / "b.png").write_text("not a png")
    frames = ImageSource(path=tmp_path).frames()
    next(frames)
    with pytest.raises(SourceError, match=r"b\.png: cannot read the image \(frame 1\)"):
        next(frames)


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
        _write_image(image, 9)
    make_video(tmp_path / "clip.mp4", 2)
    source = open_source(str(tmp_path / name))
    assert isinstance(source, kind) and source.info.width == W
    source.close()


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


def _shared(relative: str) -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED} (needs the ../shared checkout)")
    return SHARED / relative


@pytest.mark.shared
@pytest.mark.parametrize(("name", "width", "height", "fps", "frames"), SHARED_MEDIA)
def test_shared_media_info(name: str, width: int, height: int, fps: int, frames: int) -> None:
    path = _shared(f"media/{name}")
    with open_source(path) as source:
        info = source.info
        assert (info.width, info.height, info.fps, info.frames) == (width, height, fps, frames)
        if frames <= 5:
            decoded = list(source.frames())
            assert len(decoded) == frames
            assert decoded[0].image.shape == (height, width, 3)
    assert probe_video(path) == (frames, fps, width, height)


@pytest.mark.shared
def test_shared_images_folder() -> None:
    with open_source(_shared("images")) as source:
        names = source.names
        first = next(source.frames())
    expected = [p for p in _shared("images").iterdir() if p.suffix in (".jpg", ".png")]
    assert sorted(names) == sorted(p.name for p in expected)
    assert first.image.shape == (source.info.height, source.info.width, 3)
