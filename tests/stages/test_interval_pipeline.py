"""``--interval 2`` through a whole run (stage processes, the fake backend): every frame
still comes out, in order; the network ran on frames 0, 3, ...; the frames between carry
the person found before, by optical flow, marked ``"inferred": false``, with its id."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from streampose.config import ModelConfig, OutputsConfig, PipelineConfig
from streampose.pipeline import Pipeline
from tests.stages.test_work_items_pipeline import FRAMES, H, square_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments


def test_interval_frames_carry_the_person_and_say_so(tmp_path: Path) -> None:
    clip = square_video(tmp_path / "clip.mp4")
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(sources=(str(clip),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake", height=H,
                                              interval=2),
                            outputs=OutputsConfig(json=jsonl, summary=summary))
    Pipeline(config).run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert [len(r["persons"]) for r in records] == [1] * FRAMES
    flags = [r["persons"][0].get("inferred", True) for r in records]
    assert flags == [i % 3 == 0 for i in range(FRAMES)]
    assert len({r["persons"][0]["id"] for r in records}) == 1
    for r in records:  # the carried person followed the square (8 px a frame)
        kp = np.array(r["persons"][0]["keypoints"], np.float32)
        found = kp[kp[:, 2] > 0]
        assert abs(float(np.median(found[:, 0])) - (107.5 + 8 * r["frame"])) < 5
    stream = json.loads(summary.read_text())["streams"][0]
    assert (stream["frames_out"], stream["carried"]) == (FRAMES, 4)
    assert not shm_segments()
