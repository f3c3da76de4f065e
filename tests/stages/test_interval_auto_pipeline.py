"""``--interval auto`` through a whole run (stage processes, the fake backend), one
stream per scene: a square standing still (calm: the interval grows to
``interval_max``), a dark scene a square walks into (the frame it appears on is
inferred, though the calm cadence would have carried it) and a square running across
(fast: every frame inferred once render has posted its boxes, but for a frame or two
whose speed is measured on carried poses: with 4 frame slots, render is at most 4
frames behind preprocess)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from streampose.config import ModelConfig, OutputsConfig, PerformanceConfig, PipelineConfig
from streampose.config.sections import MotionConfig
from streampose.pipeline import Pipeline
from tests.support.media import make_square_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments

W, H, FRAMES, ARRIVAL = 640, 128, 24, 7
SIDE = 16  # the squares' side
STEP = 24  # the fast square, pixels a frame: 0.35 of its person's box height


def _clip(path: Path, where: Callable[[int], int | None]) -> Path:
    """A dark clip with a bright square at y 40, x ``where(frame)`` (None: not there)."""
    return make_square_video(path, size=(W, H), frames=FRAMES, x_of=where, side=SIDE)


def test_auto_grows_in_calm_infers_a_newcomer_and_every_fast_frame(tmp_path: Path) -> None:
    clips = [_clip(tmp_path / "calm.mp4", lambda i: 120),
             _clip(tmp_path / "arrival.mp4", lambda i: 120 if i >= ARRIVAL else None),
             _clip(tmp_path / "fast.mp4", lambda i: 8 + STEP * i)]
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(
        sources=tuple(map(str, clips)),
        model=ModelConfig(path=MODEL_NAME, backend="fake", height=H, interval="auto",
                          interval_max=3),
        outputs=OutputsConfig(json=jsonl, summary=summary),
        performance=PerformanceConfig(frame_slots=4))
    Pipeline(config).run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    calm, arrival, fast = ([r for r in records if r["stream"] == s] for s in range(3))
    for stream in (calm, arrival, fast):
        assert [r["frame"] for r in stream] == list(range(FRAMES))
    assert inferred(calm) == [0, 2, 5, 9, 13, 17, 21]  # 1, 2, then 3 frames carried
    assert all(len(r["persons"]) == 1 for r in calm)
    assert not any(r["persons"] for r in arrival[:ARRIVAL])
    assert ARRIVAL in inferred(arrival)  # the calm cadence would have carried it
    late = set(range(8, FRAMES)) - set(inferred(fast))  # once the board shows the speed
    assert len(late) <= 2, late  # (a measure between carried poses may come out low)
    streams = json.loads(summary.read_text())["streams"]
    assert (streams[0]["frames_inferred"], streams[0]["carried"]) == (7, FRAMES - 7)
    assert not shm_segments()


def inferred(stream: list[dict[str, Any]]) -> list[int]:
    """The frames whose person the network found (no ``"inferred": false``)."""
    return [r["frame"] for r in stream
            if r["persons"] and all(p.get("inferred", True) for p in r["persons"])]


def test_auto_with_motion_regions_shares_the_stream_s_motion_detector(tmp_path: Path) -> None:
    """The plumbing: the regions planner's detector decides too (every frame out, the
    person where it is, crops used)."""
    clip = _clip(tmp_path / "fast.mp4", lambda i: 8 + STEP * i)
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(
        sources=(str(clip),),
        model=ModelConfig(path=MODEL_NAME, backend="fake", height=H, interval="auto"),
        motion=MotionConfig(mode="on", full_every=50),
        outputs=OutputsConfig(json=jsonl, summary=summary),
        performance=PerformanceConfig(frame_slots=4))
    Pipeline(config).run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert len(inferred(records)) > FRAMES // 2  # the fake's person changes shape in crops
    for r in records:  # the regions around the mover found it where it is
        kp = np.array(r["persons"][0]["keypoints"], np.float32)
        assert abs(float(np.median(kp[kp[:, 2] > 0][:, 0])) - (16 + STEP * r["frame"])) < 8
    stream = json.loads(summary.read_text())["streams"][0]
    # most inferred frames on crops, not whole frames (how many frames auto infers depends
    # on when render's posts arrive: 11 of 24 were on crops in one loaded run)
    assert stream["frames_regions"] >= len(inferred(records)) // 2
    assert not shm_segments()
