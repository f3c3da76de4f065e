"""streampose.outputs.encoder: the VideoWriter (timing, odd sizes, valid files, errors)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.errors import ConfigError, OutputError
from streampose.outputs.encoder import VideoWriter
from streampose.sources import VideoFileSource, probe_video
from tests.support.media import H, W, assert_close, make_pattern_video, pattern, read_all


@pytest.mark.parametrize("fragmented", [False, True])
def test_writer_round_trip(tmp_path: Path, fragmented: bool) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path=path, width=W, height=H, fps=Fraction(10), fragmented=fragmented) as w:
        for i in range(15):
            w.write(pattern(i))
    assert w.frames_written == 15
    assert probe_video(path) == (15, Fraction(10), W, H)
    info, frames = read_all(path)
    assert len(frames) == 15 and info.fps == 10 and info.frames == 15
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    for f in frames:
        assert_close(f.image, pattern(f.index))


# Fragmented (the default) and plain files, with and without B-frames (veryfast has them:
# the encoder's reorder delay must not shift the timestamps).
FORMS = [pytest.param(f, p, id=f"{'fragmented' if f else 'plain'}-{p}")
         for f in (True, False) for p in ("ultrafast", "veryfast")]


@pytest.mark.parametrize(("fragmented", "preset"), FORMS)
def test_writer_keeps_source_timestamps(tmp_path: Path, fragmented: bool, preset: str) -> None:
    source_path = make_pattern_video(tmp_path / "src.mkv", 8, codec="mpeg4")  # time base 1/1000
    out = tmp_path / "out.mp4"
    with VideoFileSource(path=source_path) as src:
        info = src.info
        with VideoWriter(path=out, width=W, height=H, fps=info.fps, time_base=info.time_base,
                         fragmented=fragmented, preset=preset) as w:
            for f in src.frames():
                w.write(f.image, f.pts)
        seconds = [f.pts * info.time_base for f in src.frames()]
    with VideoFileSource(path=out) as back:
        assert [f.pts * back.info.time_base for f in back.frames()] == seconds
        assert back.info.fps == 10 and back.info.frames == 8


@pytest.mark.parametrize(("fragmented", "preset"), FORMS)
def test_writer_variable_timestamps(tmp_path: Path, fragmented: bool, preset: str) -> None:
    pts = [0, 100, 300, 350, 1000, 1100, 1200, 1250, 1400, 1500, 1600, 1700]
    path = tmp_path / "vfr.mp4"
    with VideoWriter(path=path, width=W, height=H, fps=10, time_base=Fraction(1, 1000),
                     fragmented=fragmented, preset=preset) as w:
        for i, p in enumerate(pts):
            w.write(pattern(i), p)
    with VideoFileSource(path=path) as back:
        assert [f.pts * back.info.time_base for f in back.frames()] == [Fraction(p, 1000)
                                                                       for p in pts]  # fmt: skip
    assert probe_video(path)[0] == len(pts)
    assert opencv_frames(path) == len(pts)  # another reader agrees


def opencv_frames(path: Path) -> int:
    """Frames OpenCV (its own FFmpeg build) reads from ``path``."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.isOpened() and capture.grab():
        count += 1
    capture.release()
    return count


@pytest.mark.parametrize(("width", "height"), [(33, 24), (32, 25), (33, 25), (1, 1)])
def test_writer_pads_odd_sizes(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "odd.mp4"
    images = [pattern(i, width, height) for i in range(4)]
    with VideoWriter(path=path, width=width, height=height, fps=10) as w:
        for image in images:
            w.write(image)
    even = (width + width % 2, height + height % 2)
    assert w.output_size == even
    assert probe_video(path) == (4, 10, *even)
    for f in read_all(path)[1]:
        assert_close(f.image[:height, :width], images[f.index])
        assert_close(f.image[-1:, -1:], images[f.index][-1:, -1:])


@pytest.mark.parametrize("fragmented", [False, True])
def test_writer_with_no_frames_gives_a_valid_mp4(tmp_path: Path, fragmented: bool) -> None:
    path = tmp_path / "none.mp4"
    writer = VideoWriter(path=path, width=W, height=H, fps=10, fragmented=fragmented)
    writer.open()
    writer.close()
    writer.close()
    assert probe_video(path)[::2] == (0, W)
    assert read_all(path)[1] == []


def test_writer_without_open_writes_nothing(tmp_path: Path) -> None:
    VideoWriter(path=tmp_path / "x.mp4", width=W, height=H, fps=10).close()
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("preset", ["ultrafast", "veryfast"])
def test_a_killed_writer_leaves_a_playable_file(tmp_path: Path, preset: str) -> None:
    """Every MP4 is fragmented by default: SIGKILL loses at most the last fragment, and
    what is left has the frames' exact timestamps."""
    path = tmp_path / "killed.mp4"
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from streampose.outputs.encoder import VideoWriter
        w = VideoWriter(path={str(path)!r}, width=32, height=24, fps=10, preset={preset!r})
        for i in range(40):
            w.write(np.full((24, 32, 3), i * 5, np.uint8))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=180)
    assert result.returncode == -9, result.stderr.decode()
    info, frames = read_all(path)
    assert 10 <= len(frames) < 40
    assert [f.pts * info.time_base for f in frames] == [Fraction(i, 10)
                                                        for i in range(len(frames))]
    assert opencv_frames(path) == len(frames)


def _file_in_the_way(tmp: Path) -> Path:
    (tmp / "file").write_text("x")
    return tmp / "file" / "out.mp4"


OUTPUT_ERRORS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing dir", lambda t: t / "nope" / "out.mp4",
     r"video output .*out\.mp4: folder .*nope does not exist"),
    ("under a file", _file_in_the_way, r"video output .*out\.mp4: .*file is not a directory"),
    ("path is a dir", lambda t: t, r"video output .*: is a directory"),
    ("unknown format", lambda t: t / "out.xyz", r"out\.xyz: cannot create the file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in OUTPUT_ERRORS], ids=[c[0] for c in OUTPUT_ERRORS]
)
def test_writer_output_errors(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    path = make(tmp_path)
    writer = VideoWriter(path=path, width=W, height=H, fps=10)
    with pytest.raises(OutputError, match=message) as e:
        writer.open()
    assert isinstance(e.value, OSError) and "\n" not in str(e.value)
    assert writer.frames_written == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"fps": 0}, "fps"),
        ({"fps": "fast"}, "fps"),
        ({"crf": 52}, "crf"),
        ({"threads": -1}, "threads"),
        ({"width": 0}, "width"),
        ({"codec": "nope"}, "codec"),
        ({"preset": "bogus"}, "preset"),
        ({"time_base": -1}, "time_base"),
    ],
)
def test_writer_checks_its_arguments(tmp_path: Path, kwargs: dict, name: str) -> None:
    args = {"path": tmp_path / "x.mp4", "width": W, "height": H, "fps": 10} | kwargs
    with pytest.raises(ConfigError, match=f"VideoWriter: {name} = "):
        VideoWriter(**args)


def test_writer_rejects_frames_of_the_wrong_shape(tmp_path: Path) -> None:
    with VideoWriter(path=tmp_path / "x.mp4", width=W, height=H, fps=10) as writer:
        with pytest.raises(ValueError, match="expected"):
            writer.write(np.zeros((H, W + 2, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            writer.write(np.zeros((H, W, 3), np.float32))
    with pytest.raises(OutputError, match="closed"):
        writer.write(pattern(0))
