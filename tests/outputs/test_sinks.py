"""streampose.outputs sinks as Resources: open, write, close (idempotent), valid files."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.images import ImageFolderSink
from streampose.outputs.jsonl import JsonLinesSink, JsonLinesWriter
from streampose.outputs.openpose import OpenPoseJsonSink
from streampose.outputs.video import VideoSink
from streampose.pose.poses import Poses
from streampose.pose.skeleton import COCO18
from streampose.sources import probe_video

EMPTY = Poses.empty(COCO18)


def meta(frame: int, *, stream: int = 0, name: str | None = None) -> FrameMeta:
    return FrameMeta(stream=stream, frame=frame, pts=frame * 100, pts_s=frame / 10,
                     wall=1000.0 + frame, image_id=frame, name=name)


def one_person() -> Poses:
    kp = np.zeros((1, COCO18.num_keypoints, 3), np.float32)
    kp[0, :, :2] = np.arange(COCO18.num_keypoints)[:, None] + 10
    kp[0, :, 2] = 0.9
    return Poses(kp, np.array([0.8], np.float32), COCO18, np.array([7], np.int64))


def every_sink(tmp: Path) -> list[Sink]:
    return [JsonLinesSink(path=tmp / "o.jsonl"), CocoResultsSink(path=tmp / "c.json"),
            OpenPoseJsonSink(folder=tmp / "op", stems=["clip"]),
            ImageFolderSink(folder=tmp / "img"),
            VideoSink(stream=0, path=tmp / "v.mp4", width=32, height=24, fps=Fraction(10),
                      time_base=Fraction(1, 1000), preset="ultrafast", crf=23, threads=1)]


def test_every_sink_is_a_resource_closing_twice_or_unopened(tmp_path: Path) -> None:
    for sink in every_sink(tmp_path / "unopened"):
        assert isinstance(sink, Resource)
        sink.close()  # never opened: nothing to do, nothing created
    assert not (tmp_path / "unopened").exists()
    for sink in every_sink(tmp_path):
        with sink:
            sink.write(meta(0), EMPTY, np.zeros((24, 32, 3), np.uint8))
        sink.close()
    assert JsonLinesWriter in Resource.__subclasses__()


def test_coco_results_are_valid_json_even_when_empty(tmp_path: Path) -> None:
    with CocoResultsSink(path=tmp_path / "empty.json") as sink:
        sink.write(meta(0), EMPTY, None)
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    with CocoResultsSink(path=tmp_path / "one.json") as sink:
        sink.write(meta(5), one_person(), None)
        sink.write(meta(6), one_person(), None)
    results = json.loads((tmp_path / "one.json").read_text())
    assert [r["image_id"] for r in results] == [5, 6]


def test_json_lines_one_flushed_line_per_frame(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    with JsonLinesSink(path=path) as sink:
        sink.write(meta(0, name="a.jpg"), one_person(), None)
        assert len(path.read_text().splitlines()) == 1  # flushed as written
        sink.write(meta(1), EMPTY, None)
    first, second = (json.loads(x) for x in path.read_text().splitlines())
    assert (first["frame"], first["image"], first["pts"], first["wall"]) == (0, "a.jpg", 0.0,
                                                                              1000.0)
    assert second["frame"] == 1 and "image" not in second


def test_json_lines_name_the_camera_when_it_has_one(tmp_path: Path) -> None:
    import dataclasses

    from streampose.outputs.jsonl import frame_record

    poses = Poses.empty(COCO18)
    meta = FrameMeta(stream=1, frame=2, pts=2, pts_s=0.2, wall=5.0, image_id=2)
    assert "camera" not in frame_record(meta, poses)
    named = frame_record(dataclasses.replace(meta, camera="door"), poses)
    assert list(named)[:3] == ["stream", "camera", "frame"] and named["camera"] == "door"


def test_openpose_names_frames_like_openpose(tmp_path: Path) -> None:
    with OpenPoseJsonSink(folder=tmp_path / "op", stems=["left", "right"]) as sink:
        sink.write(meta(3, stream=1), one_person(), None)
        sink.write(meta(0, name="000000000785.jpg"), EMPTY, None)
    names = sorted(p.name for p in (tmp_path / "op").iterdir())
    assert names == ["s0_000000000785_keypoints.json", "s1_right_000000000003_keypoints.json"]
    frame = json.loads((tmp_path / "op" / names[1]).read_text())
    [person] = frame["people"]
    assert person["person_id"] == [7] and len(person["pose_keypoints_2d"]) == 18 * 3
    assert list(person)[:3] == ["person_id", "pose_keypoints_2d", "face_keypoints_2d"]


@pytest.mark.parametrize("resize", ["segment", "letterbox"])
def test_video_sink_keeps_its_stream_and_size(tmp_path: Path, resize: str) -> None:
    path = tmp_path / "v.mp4"
    with VideoSink(stream=1, path=path, width=32, height=24, fps=Fraction(10),
                   time_base=Fraction(1, 1000), preset="ultrafast", crf=23, threads=1,
                   resize=resize) as sink:
        sink.write(meta(0, stream=0), EMPTY, np.zeros((24, 32, 3), np.uint8))  # not its stream
        sink.write(meta(0, stream=1), EMPTY, np.zeros((24, 32, 3), np.uint8))
        sink.write(meta(1, stream=1), EMPTY, np.zeros((48, 64, 3), np.uint8))  # resized
        sink.write(meta(2, stream=1), EMPTY, None)  # no image: nothing
    if resize == "letterbox":  # scaled into the first size
        assert probe_video(path)[0] == 2 and probe_video(path)[2:] == (32, 24)
    else:  # a second segment at the new size
        assert probe_video(path)[0] == 1 and probe_video(path)[2:] == (32, 24)
        assert probe_video(tmp_path / "v-part2-64x48.mp4")[::2] == (1, 64)


def test_image_folder_sink_names_video_frames(tmp_path: Path) -> None:
    with ImageFolderSink(folder=tmp_path / "a" / "b") as sink:
        sink.write(meta(4, stream=2), EMPTY, np.zeros((8, 8, 3), np.uint8))
        sink.write(meta(5), EMPTY, None)
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["frame_2_000004.jpg"]


@pytest.mark.parametrize("make", [
    lambda t: JsonLinesSink(path=t / "nope" / "o.jsonl"),
    lambda t: CocoResultsSink(path=t / "nope" / "c.json"),
    lambda t: VideoSink(stream=0, path=t / "nope" / "v.mp4", width=32, height=24,
                        fps=Fraction(10), time_base=Fraction(1, 10), preset="ultrafast",
                        crf=23, threads=1),
])
def test_open_checks_the_path(tmp_path: Path, make) -> None:
    with pytest.raises(OutputError, match=r"folder .*nope does not exist"):
        make(tmp_path).open()
