"""Several inference workers and sharded preprocess/render, end to end: every frame of
every stream comes out once, in order, with the outputs of a one-process-each run."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.outputs.parts import part_path
from streampose.sources import probe_video
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shared import shared_file
from tests.support.shm import shm_segments

FRAMES = (12, 7, 9)  # streams of different lengths end at different times


@pytest.fixture
def clips(tmp_path: Path) -> list[Path]:
    return [make_video(tmp_path / f"c{i}.mp4", frames=n) for i, n in enumerate(FRAMES)]


def run(tmp_path: Path, name: str, sources: list[Path], *, model: ModelConfig | None = None,
        max_frames: int | None = None, batch: int = 2,
        **performance: Any) -> tuple[dict[str, Any], Path]:
    """A run writing videos, JSON lines and COCO results under ``tmp_path/name``; returns
    the summary and the folder."""
    out = tmp_path / name
    out.mkdir()
    config = PipelineConfig(
        sources=tuple(str(s) for s in sources),
        model=model or ModelConfig(path=MODEL_NAME, backend="fake"),
        outputs=OutputsConfig(video=str(out / "v.mp4"), json=out / "o.jsonl",
                              coco=out / "c.json", summary=out / "s.json"),
        batching=BatchingConfig(batch=batch, max_wait_ms=5),
        performance=PerformanceConfig(postprocess_workers=2, max_frames=max_frames,
                                      **performance))
    summary = Pipeline(config).run()
    assert shm_segments() == []
    return summary.to_json(), out


def records(folder: Path) -> dict[int, list[dict[str, Any]]]:
    """Each stream's JSON lines in file order, without the capture wall time."""
    by_stream: dict[int, list[dict[str, Any]]] = {}
    for line in (folder / "o.jsonl").read_text().splitlines():
        record = json.loads(line)
        del record["wall"]
        by_stream.setdefault(record["stream"], []).append(record)
    return by_stream


def coco(folder: Path) -> list[Any]:
    return sorted(json.loads((folder / "c.json").read_text()),
                  key=lambda r: json.dumps(r, sort_keys=True))


def stage_names(summary: dict[str, Any]) -> list[str]:
    return sorted(s["stage"] for s in summary["stages"])


def test_workers_and_shards_give_the_outputs_of_one_process_each(
    tmp_path: Path, clips: list[Path]
) -> None:
    one, one_dir = run(tmp_path, "one", clips, infer_workers="1", preprocess_shards="1",
                       render_shards="1")
    many, many_dir = run(tmp_path, "many", clips, infer_workers="3", preprocess_shards="2",
                         render_shards="2")
    assert stage_names(many) == sorted(
        ["decode0", "decode1", "decode2", "preprocess0", "preprocess1", "infer0", "infer1",
         "infer2", "postprocess0", "postprocess1", "render0", "render1"])
    assert stage_names(one) == sorted(["decode0", "decode1", "decode2", "preprocess", "infer",
                                       "postprocess0", "postprocess1", "render"])
    expected = records(one_dir)
    assert records(many_dir) == expected  # per stream: same records, same order
    for stream, n in enumerate(FRAMES):
        assert [r["frame"] for r in expected[stream]] == list(range(n))
        assert sum(r["persons"] != [] for r in expected[stream]) == n  # the fake's person
        frames, fps = probe_video(many_dir / f"v_{stream}.mp4")[:2]
        assert (frames, fps) == (n, Fraction(10))
    assert coco(many_dir) == coco(one_dir) != []
    assert [s["frames_out"] for s in many["streams"]] == list(FRAMES)
    assert sum(s["items"] for s in many["stages"] if s["stage"].startswith("infer")) == 28
    assert many["steady_fps"] is not None and one["steady_fps"] is not None
    leftovers = [p for p in os.listdir(many_dir) if ".part" in p]
    assert leftovers == []  # the parts were joined and removed


def test_one_stream_with_several_infer_workers_ends_after_its_last_frame(
    tmp_path: Path, clips: list[Path]
) -> None:
    """Each frame goes to whichever worker is free: the stream's end must still wait for
    every frame (render ends it in ticket order)."""
    summary, out = run(tmp_path, "w", clips[:1], infer_workers="3", render_shards="1")
    assert [r["frame"] for r in records(out)[0]] == list(range(FRAMES[0]))
    assert summary["streams"][0]["frames_out"] == FRAMES[0]
    infer = [s for s in summary["stages"] if s["stage"].startswith("infer")]
    assert len(infer) == 3 and sum(s["items"] for s in infer) == FRAMES[0]


def test_more_shards_than_streams_gives_one_shard_per_stream(
    tmp_path: Path, clips: list[Path]
) -> None:
    summary, out = run(tmp_path, "s", clips[:2], preprocess_shards="5", render_shards="5")
    names = stage_names(summary)
    assert names.count("render0") == names.count("render1") == 1 and "render2" not in names
    assert "preprocess1" in names and "preprocess2" not in names
    assert {s: len(r) for s, r in records(out).items()} == {0: 12, 1: 7}
    assert not part_path(out / "o.jsonl", 0).exists()


@pytest.mark.shared
def test_the_real_model_gives_the_same_json_lines_with_two_workers(tmp_path: Path) -> None:
    video = shared_file("media/vtest.mp4")
    model = ModelConfig(path=shared_file(f"models/{MODEL_NAME}"), threads=1)
    # batches of one: the same batches in both runs (ONNX Runtime may round a frame
    # differently in a batch of two)
    _, one = run(tmp_path, "one", [video], model=model, max_frames=16, batch=1,
                 infer_workers="1")
    _, two = run(tmp_path, "two", [video], model=model, max_frames=16, batch=1,
                 infer_workers="2")
    expected = records(one)
    assert len(expected[0]) == 16 and any(r["persons"] for r in expected[0])
    assert records(two) == expected


def test_a_device_list_plans_one_infer_worker_per_gpu(clips: list[Path]) -> None:
    """No GPU needed: the plan and the built stages, not the run."""
    from streampose.planning.run_state import RunState
    from streampose.runtime.supervisor import Supervisor
    from streampose.stages.infer import InferStage

    config = PipelineConfig(sources=(str(clips[0]),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake",
                                              device="cuda:0,cuda:1"))
    pipeline = Pipeline(config)
    assert pipeline.plan.count("infer_worker") == 2
    assert "infer[worker] -> maps" in pipeline.topology.describe()
    with Supervisor() as sup:
        plan = pipeline.plan
        stages = pipeline.topology.build(sup, plan, RunState.create(plan, sup))
        infer = [s for s in stages if isinstance(s, InferStage)]
        assert [(s.name, s.request.device) for s in infer] == [("infer0", "cuda:0"),
                                                               ("infer1", "cuda:1")]
        assert {s.peers for s in infer} == {2} and infer[0].finished is infer[1].finished
    assert shm_segments() == []
