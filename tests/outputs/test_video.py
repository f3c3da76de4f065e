"""VideoSink: the video takes its first frame's size; a later size change starts a new
segment (the default) or is letterboxed into the first size, aspect ratio kept."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from streampose.outputs.base import FrameMeta
from streampose.outputs.video import VideoSink, letterboxed, segment_path
from streampose.pose import Poses, get_skeleton
from streampose.sources import probe_video

NO_POSES = Poses.empty(get_skeleton("coco18"))


def sink(path: Path, resize: str = "segment", size: tuple[int, int] = (64, 48)) -> VideoSink:
    return VideoSink(stream=0, path=path, width=size[0], height=size[1], fps=Fraction(10),
                     time_base=Fraction(1, 10), preset="ultrafast", crf=23, threads=1,
                     resize=resize)


def write(video: VideoSink, sizes: list[tuple[int, int]]) -> None:
    video.open()
    for i, (w, h) in enumerate(sizes):
        meta = FrameMeta(stream=0, frame=i, pts=i, pts_s=i / 10, wall=0.0, image_id=i)
        video.write(meta, NO_POSES, np.full((h, w, 3), 100, np.uint8))
    video.close()


def test_the_video_takes_the_size_of_its_first_frame(tmp_path: Path) -> None:
    video = sink(tmp_path / "v.mp4", size=(3840, 2160))  # a camera's stand-in size
    write(video, [(48, 36)] * 3)
    assert probe_video(tmp_path / "v.mp4")[0::2] == (3, 48) and video.paths == [tmp_path / "v.mp4"]


def test_a_size_change_starts_a_segment(tmp_path: Path) -> None:
    video = sink(tmp_path / "v.mp4")
    write(video, [(64, 48)] * 2 + [(128, 96)] * 3 + [(64, 48)] * 2)
    assert video.paths == [tmp_path / "v.mp4", tmp_path / "v-part2-128x96.mp4",
                           tmp_path / "v-part3-64x48.mp4"]
    assert [probe_video(p)[0::2] for p in video.paths] == [(2, 64), (3, 128), (2, 64)]


def test_letterbox_keeps_one_file_at_the_first_size(tmp_path: Path) -> None:
    video = sink(tmp_path / "v.mp4", resize="letterbox")
    write(video, [(64, 48)] * 2 + [(128, 48)] * 3)
    assert video.paths == [tmp_path / "v.mp4"]
    count, _, width, height = probe_video(tmp_path / "v.mp4")
    assert (count, width, height) == (5, 64, 48)


def test_letterboxed_keeps_the_aspect_ratio_centred_on_black() -> None:
    out = letterboxed(np.full((48, 128, 3), 100, np.uint8), (64, 48))
    assert out.shape == (48, 64, 3)
    assert (out[:12] == 0).all() and (out[36:] == 0).all() and (out[12:36] == 100).all()


def test_segment_names() -> None:
    assert segment_path(Path("/o/run.mp4"), 2, (640, 480)) == Path("/o/run-part2-640x480.mp4")
