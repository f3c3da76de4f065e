"""``--motion on`` through a whole run (stage processes, the fake backend): a square that
walks in and stops stays inferred on a region around it (its track box comes back from
render on the stream's board), in frame pixels; an empty scene is skipped as still
between the periodic full passes; every frame comes out once, in order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from streampose.config import ModelConfig, OutputsConfig, PipelineConfig
from streampose.config.sections import MotionConfig
from streampose.pipeline import Pipeline
from tests.support.media import make_square_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments

W, H, FRAMES, WALK = 256, 128, 36, 6


def _clip(path: Path, *, square: bool) -> Path:
    """A dark clip; with ``square``, a bright 8x8 square at y 40 moving right 8 px a
    frame for ``WALK`` frames, then standing still."""
    return make_square_video(path, size=(W, H), frames=FRAMES,
                             x_of=_square_x if square else lambda i: None)


def _square_x(frame: int) -> int:
    return 40 + 8 * min(frame, WALK - 1)


def test_a_person_who_stops_stays_inferred_and_a_still_scene_is_skipped(tmp_path: Path
                                                                        ) -> None:
    walker = _clip(tmp_path / "walker.mp4", square=True)
    empty = _clip(tmp_path / "empty.mp4", square=False)
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(
        sources=(str(walker), str(empty)),
        model=ModelConfig(path=MODEL_NAME, backend="fake", height=H),
        motion=MotionConfig(mode="on", full_every=16, learning_rate=0.3),
        outputs=OutputsConfig(json=jsonl, summary=summary))
    pipeline = Pipeline(config)
    assert pipeline.plan.motion == (True, True)
    pipeline.run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    walked = [r for r in records if r["stream"] == 0]
    still = [r for r in records if r["stream"] == 1]
    assert [r["frame"] for r in walked] == [r["frame"] for r in still] == list(range(FRAMES))
    assert all(not r["persons"] for r in still)
    assert [len(r["persons"]) for r in walked] == [1] * FRAMES
    for r in walked:  # found by the network on every frame, where the square is
        person = r["persons"][0]
        assert person.get("inferred", True), r["frame"]
        kp = np.array(person["keypoints"], np.float32)
        found = kp[kp[:, 2] > 0]
        assert abs(float(np.median(found[:, 0])) - (_square_x(r["frame"]) + 4)) < 6
    assert len({r["persons"][0]["id"] for r in walked}) == 1
    streams = json.loads(summary.read_text())["streams"]
    for s in streams:
        assert s["frames_in"] == s["frames_out"] == FRAMES
    first, second = streams
    assert first["frames_still"] == 0 and first["frames_skipped"] == 0
    assert first["frames_regions"] == FRAMES - 3  # all but the full passes 0, 16, 32
    assert first["regions_per_frame"] == 1.0
    assert (second["frames_inferred"], second["frames_still"]) == (3, FRAMES - 3)
    assert second["frames_skipped"] == FRAMES - 3 and second["frames_regions"] == 0
    assert not shm_segments()
