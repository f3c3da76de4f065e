"""Device processing in the whole pipeline (fake backend, torch on the CPU): same poses as
host processing, fewer bytes back, and how ``device_ops`` is chosen."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="device processing runs on torch")

from streampose import Pipeline
from streampose.config.sections import (
    BatchingConfig,
    ModelConfig,
    OutputsConfig,
    PipelineConfig,
)
from streampose.errors import ConfigError
from streampose.processing import HostProcessing
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments


def fake_model(**kw: object) -> ModelConfig:
    return ModelConfig(path=MODEL_NAME, backend="fake", **kw)  # type: ignore[arg-type]


def run_fake(tmp_path: Path, clip: Path, device_ops: str, batch: int = 1) -> tuple[list, dict]:
    name = f"{device_ops}-{batch}"
    config = PipelineConfig(sources=(str(clip),), model=fake_model(device_ops=device_ops),
                            batching=BatchingConfig(batch=batch),
                            outputs=OutputsConfig(json=tmp_path / f"{name}.jsonl",
                                                  summary=tmp_path / f"{name}.json"))
    Pipeline(config).run()
    lines = [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    return lines, json.loads((tmp_path / f"{name}.json").read_text())


@pytest.mark.parametrize("batch", [1, 3])
def test_pipeline_with_device_ops_gives_the_same_poses(tmp_path: Path, batch: int) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=10, size=(160, 96))
    off, _ = run_fake(tmp_path, clip, "off", batch=batch)
    on, summary = run_fake(tmp_path, clip, "on", batch=batch)
    assert [x["frame"] for x in on] == list(range(10))
    people = [len(x["persons"]) for x in on]
    assert people == [len(x["persons"]) for x in off] and sum(people) >= 8
    for a, b in zip(off, on, strict=True):
        for p, q in zip(a["persons"], b["persons"], strict=True):
            np.testing.assert_allclose(np.array(p["keypoints"]), np.array(q["keypoints"]),
                                       atol=0.02)
    infer = next(s for s in summary["stages"] if s["stage"].startswith("infer"))
    assert infer["device_ops"] is True
    assert shm_segments() == []


def test_device_ops_move_fewer_bytes(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=4, size=(320, 192))
    _, off = run_fake(tmp_path, clip, "off")
    _, on = run_fake(tmp_path, clip, "on")
    sizes = [next(s["map_bytes_per_item"] for s in run["stages"]  # a worker that had items
                  if s["stage"].startswith("infer") and s.get("map_bytes_per_item"))
             for run in (off, on)]
    assert sizes[1] < sizes[0] / 2.5  # fp16 PAFs only, plus a few peaks


def test_device_ops_on_needs_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import streampose.processing as processing

    clip = make_video(tmp_path / "clip.mp4", frames=2)
    monkeypatch.setattr(processing, "importable", lambda name: name != "torch")
    config = PipelineConfig(sources=(str(clip),), model=fake_model(device_ops="on"))
    with pytest.raises(ConfigError, match="needs torch"):
        Pipeline(config)


def test_device_ops_auto_is_off_on_the_cpu(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    auto = Pipeline(PipelineConfig(sources=(str(clip),), model=fake_model()))
    assert isinstance(auto.plan.processing, HostProcessing)
    assert auto.plan.processing.reads_frames is False
    with pytest.raises(ConfigError, match="device_ops"):
        PipelineConfig(sources=(str(clip),), model=fake_model(device_ops="gpu"))
