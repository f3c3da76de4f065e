"""Files that span streams written by several render shards: parts joined into the file
asked for, laid out as one sink would have written it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from streampose.outputs.base import FrameMeta
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.jsonl import JsonLinesSink
from streampose.outputs.parts import (
    clear_parts,
    concatenate,
    join_coco,
    join_parts,
    part_path,
)
from streampose.pose import COCO18, Poses


def poses(people: int) -> Poses:
    keypoints = np.full((people, 18, 3), 5.0, np.float32)
    return Poses(keypoints, np.ones(people, np.float32), COCO18)


def meta(stream: int, frame: int) -> FrameMeta:
    return FrameMeta(stream=stream, frame=frame, pts=frame, pts_s=frame / 10, wall=1.0,
                     image_id=frame, name=None)


FRAMES = [(0, 0, 1), (1, 0, 2), (0, 1, 0), (1, 1, 1), (0, 2, 1)]  # stream, frame, people


def write(sink: CocoResultsSink | JsonLinesSink, frames: list[tuple[int, int, int]]) -> None:
    with sink:
        sink.open()
        for stream, frame, people in frames:
            sink.write(meta(stream, frame), poses(people), None)


def test_part_paths_sit_beside_the_file() -> None:
    assert part_path(Path("d/o.jsonl"), 1) == Path("d/o.jsonl.part1")
    assert part_path(Path("d/o.jsonl"), None) == Path("d/o.jsonl")


def test_joined_parts_equal_one_sink_writing_the_shards_in_turn(tmp_path: Path) -> None:
    whole, parted = tmp_path / "whole", tmp_path / "parted"
    whole.mkdir()
    parted.mkdir()
    shards = [[f for f in FRAMES if f[0] == s] for s in (0, 1)]
    for shard, frames in enumerate(shards):
        write(JsonLinesSink(path=part_path(parted / "o.jsonl", shard)), frames)
        write(CocoResultsSink(path=part_path(parted / "c.json", shard)), frames)
    write(JsonLinesSink(path=whole / "o.jsonl"), shards[0] + shards[1])
    write(CocoResultsSink(path=whole / "c.json"), shards[0] + shards[1])
    join_parts([(parted / "o.jsonl", concatenate), (parted / "c.json", join_coco)], 2)
    assert (parted / "o.jsonl").read_bytes() == (whole / "o.jsonl").read_bytes()
    assert (parted / "c.json").read_bytes() == (whole / "c.json").read_bytes()
    assert len(json.loads((parted / "c.json").read_text())) == 5
    assert sorted(p.name for p in parted.iterdir()) == ["c.json", "o.jsonl"]


def test_empty_missing_and_cut_short_parts(tmp_path: Path) -> None:
    coco = tmp_path / "c.json"
    write(CocoResultsSink(path=part_path(coco, 0)), [])  # a shard with no people
    part_path(coco, 1).write_text('[\n{"image_id": 1, "score": 1.0},\n{"image_id": 2, "sc')
    join_parts([(coco, join_coco)], 3)  # part 2 was never written
    assert json.loads(coco.read_text()) == [{"image_id": 1, "score": 1.0}]
    assert not part_path(coco, 0).exists() and not part_path(coco, 1).exists()


def test_one_shard_has_no_parts_and_stale_parts_are_cleared(tmp_path: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    jsonl.write_text("kept\n")
    join_parts([(jsonl, concatenate)], 1)
    assert jsonl.read_text() == "kept\n"
    part_path(jsonl, 1).write_text("stale\n")
    clear_parts([(jsonl, concatenate)], 2)
    assert not part_path(jsonl, 1).exists() and jsonl.read_text() == "kept\n"
