"""The keypoints head in whole pipelines: the fake backend with a tiny sidecar spec, and
the real YOLO11n-pose export (skipped without ../shared): batch 4 gives the poses of batch
1, and ``streampose run`` on vtest needs no spec.

vtest is 480x360 with small, top-down pedestrians: at the training size 640 (long side)
YOLO11n-pose scores almost none of them above 0.25, at 960 (the default from its
metadata, 1.5x the training size) it finds most (measured); the real-model tests name
``--height 960`` explicitly."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from streampose.backends.ort import OnnxRuntimeBackend
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PipelineConfig
from streampose.heads import make_head
from streampose.heads.keypoints import KeypointHead, select_people
from streampose.models.resolve import resolve_spec
from streampose.pipeline import Pipeline
from streampose.pose.letterbox import letterbox_into, plan_for_spec
from streampose.sources import probe_video
from tests.support.cli import run_cli
from tests.support.media import make_video
from tests.support.shared import shared_file
from tests.support.shm import shm_segments

YOLO = "models/yolo11n-pose.onnx"
TINY_SPEC = """name = "tiny-pose"
skeleton = "coco17"
head = "keypoints"
input_name = "images"
input_layout = "NCHW"
color = "RGB"
scale = [0.00392156862745098, 0.00392156862745098, 0.00392156862745098]
stride = 8
pad_value = 114.0
centred = true
fit = "long_side"
input_height = 96
output = "output0"
keypoints = 17
"""


@pytest.mark.parametrize("device_ops", ["off", "on"])
def test_fake_pipeline_runs_a_keypoints_spec(tmp_path: Path, device_ops: str) -> None:
    if device_ops == "on":
        pytest.importorskip("torch")
    clip = make_video(tmp_path / "clip.mp4", frames=12, size=(96, 64))
    spec = tmp_path / "tiny-pose.toml"
    spec.write_text(TINY_SPEC)
    jsonl = tmp_path / "out.jsonl"
    config = PipelineConfig(
        sources=(str(clip), str(clip)),
        model=ModelConfig(path=tmp_path / "tiny-pose.onnx", spec=spec, backend="fake",
                          device_ops=device_ops),
        outputs=OutputsConfig(video=str(tmp_path / "out{stream}.mp4"), json=jsonl),
        batching=BatchingConfig(batch=4))
    Pipeline(config).run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 24 and {r["skeleton"] for r in records} == {"coco17"}
    assert sorted(r["stream"] for r in records) == [0] * 12 + [1] * 12
    people = [p for r in records for p in r["persons"]]
    assert all(len(r["persons"]) == 1 for r in records)  # the weaker copy is suppressed
    assert all(len(p["keypoints"]) == 17 and len(p["box"]) == 4 for p in people)
    assert {p["id"] for p in people} >= {1} and all(p["id"] >= 0 for p in people)
    # the square's centre (frame x = 8 + 4 i + 4) lies inside the person box
    for r in records:
        x = 12 + 4 * r["frame"]
        x1, _, x2, _ = r["persons"][0]["box"]
        assert x1 <= x <= x2
    assert not shm_segments()


def _frames(path: Path, count: int, step: int) -> list[np.ndarray]:
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == count:
                break
    return frames


@pytest.mark.shared
def test_batch_4_gives_the_poses_of_batch_1() -> None:
    model = shared_file(YOLO)
    spec = resolve_spec(model)
    head = make_head(spec)
    assert isinstance(head, KeypointHead)
    frames = _frames(shared_file("media/vtest.mp4"), 4, 25)
    lb = plan_for_spec(spec, src_w=frames[0].shape[1], src_h=frames[0].shape[0], height=960)
    assert (lb.in_w, lb.in_h) == (960, 736)
    batch = np.empty((4, 3, lb.in_h, lb.in_w), np.float32)
    for frame, out in zip(frames, batch, strict=True):
        letterbox_into(frame, lb, out, spec=spec)
    with OnnxRuntimeBackend(spec=spec, model_path=model, threads=2) as backend:
        backend.open()
        together = backend.infer(batch)["output0"]
        alone = [backend.infer(batch[i : i + 1])["output0"][0] for i in range(4)]
    people = 0
    for i in range(4):
        a = select_people(together[i], head.limits)
        b = select_people(alone[i], head.limits)
        assert a.shape == b.shape
        np.testing.assert_allclose(a[1:, :4], b[1:, :4], atol=1e-3)  # boxes, input pixels
        np.testing.assert_allclose(a[1:, 5:].reshape(-1, 17, 3)[..., :2],
                                   b[1:, 5:].reshape(-1, 17, 3)[..., :2], atol=1e-3)
        np.testing.assert_allclose(a[1:, 4::3], b[1:, 4::3], atol=1e-4)  # scores, visibility
        people += len(a) - 1
    assert people >= 8  # vtest has several pedestrians in each of these frames


@pytest.mark.shared
@pytest.mark.slow
def test_streampose_run_with_the_yolo_export_and_no_spec(tmp_path: Path) -> None:
    model = shared_file(YOLO)
    video = shared_file("media/vtest.mp4")
    out, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    result = run_cli("run", str(video), "-o", str(out), "--json", str(jsonl), "--model",
                     str(model), "--max-frames", "40", "--batch", "2", "--height", "960",
                     timeout=600)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(40))
    assert {r["skeleton"] for r in records} == {"coco17"}
    people = [p for r in records for p in r["persons"]]
    assert len(people) >= 2 * 40  # measured: 132 in these 40 frames
    assert all(len(p["keypoints"]) == 17 and len(p["box"]) == 4 for p in people)
    assert sum(p["id"] >= 0 for p in people) >= 0.9 * len(people)
    assert probe_video(out)[0] == 40  # packets counted: a fragmented MP4 has no count


@pytest.mark.shared
def test_the_default_size_runs_without_a_spec(tmp_path: Path) -> None:
    """The acceptance command as is (640 long side: few or no people on vtest)."""
    jsonl = tmp_path / "out.jsonl"
    result = run_cli("run", str(shared_file("media/vtest.mp4")), "-o", str(tmp_path / "o.mp4"),
                     "--json", str(jsonl), "--model", str(shared_file(YOLO)),
                     "--max-frames", "10", timeout=300)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 10 and {r["skeleton"] for r in records} == {"coco17"}
