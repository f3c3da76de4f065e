"""The three real networks of ../shared/models through the heads (skipped without it):
COCO AP on coco4 through ``streampose eval``, batch 4 against batch 1 on the same frames,
and a two-stream YOLO run with a video, JSON lines and track ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.backends.ort import OnnxRuntimeBackend
from streampose.heads import HeadSettings, make_head
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import letterbox_into, plan_for_spec
from streampose.pose.poses import Poses
from streampose.sources import probe_video
from streampose.transport.messages import FRAME_CODEC, FrameHeader
from streampose.transport.ring import SharedRing
from tests.support.cli import run_cli_pid
from tests.support.coco4 import Coco4Eval
from tests.support.shared import shared_file
from tests.support.shm import shm_segments

pytestmark = pytest.mark.shared

MNV2S, MNTHIN, YOLO = ("openpose-mnv2s-coco18.onnx", "openpose-mnthin-coco18.onnx",
                       "yolo11n-pose.onnx")


@pytest.mark.parametrize(("model", "least_ap"), [(MNV2S, 0.40), (MNTHIN, 0.58), (YOLO, 0.65)])
def test_coco4_ap_at_the_default_size(coco4_eval: Callable[[str], Coco4Eval], model: str,
                                      least_ap: float) -> None:
    """``streampose eval`` on coco4 (mnv2s's run is tests/test_evaluate.py's too: made
    once, ``coco4_eval``)."""
    pytest.importorskip("pycocotools", reason="pycocotools (the eval extra) computes AP")
    outcome = coco4_eval(model)
    assert outcome.result.returncode == 0, outcome.result.stderr
    metrics = outcome.metrics
    assert metrics is not None
    print(model, metrics)
    assert metrics["AP"] >= least_ap and metrics["images"] == 4


def _frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(shared_file("media/vtest.mp4")))
    frames = []
    for index in range(count * 15):
        ok, frame = capture.read()
        assert ok
        if index % 15 == 0:  # spread over the clip: different people
            frames.append(frame)
    capture.release()
    return frames


def _decode_all(spec: ModelSpec, outputs: dict[str, np.ndarray], count: int,
                slot_bytes: int) -> list[Poses]:
    head = make_head(spec, HeadSettings())
    ring = SharedRing.create(name="batch-check", slots=1, slot_bytes=slot_bytes,
                             codec=FRAME_CODEC)
    try:
        poses = []
        for payload in head.payloads(outputs, count):
            slot, _ = ring.acquire_write(1.0)
            shape, dtype = payload.write(ring, slot)
            poses.append(head.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype)))
            ring.release(slot)
        return poses
    finally:
        ring.close()
        ring.unlink()


@pytest.mark.parametrize("model", [MNTHIN, YOLO])
def test_batch_4_gives_the_poses_of_batch_1(model: str) -> None:
    """The same four frames run as one batch and one at a time: the same people, the
    same keypoints within 1e-3 input pixels (both models allow batches)."""
    path = shared_file(f"models/{model}")
    spec = resolve_spec(path)
    assert spec.max_batch == 0
    frames = _frames(4)
    lb = plan_for_spec(spec, src_w=frames[0].shape[1], src_h=frames[0].shape[0])
    batch = np.empty(spec.input_shape(4, lb.in_h, lb.in_w), np.float32)
    for frame, out in zip(frames, batch, strict=True):
        letterbox_into(frame, lb, out, spec=spec)
    slot_bytes = make_head(spec, HeadSettings()).payload_bytes([lb])
    with OnnxRuntimeBackend(spec=spec, model_path=path, threads=2) as backend:
        together = _decode_all(spec, backend.infer(batch), 4, slot_bytes)
        alone = [_decode_all(spec, backend.infer(batch[i : i + 1]), 1, slot_bytes)[0]
                 for i in range(4)]
    assert sum(len(p) for p in together) > 0
    for a, b in zip(together, alone, strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.keypoints[..., :2], b.keypoints[..., :2], atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


def test_two_streams_of_vtest_with_yolo_at_batch_4(tmp_path: Path) -> None:
    """Video per stream, JSON lines with COCO-17 keypoints and track ids, exact frame
    counts, nothing left in /dev/shm."""
    vtest, model = shared_file("media/vtest.mp4"), shared_file(f"models/{YOLO}")
    out, jsonl = tmp_path / "out_{stream}.mp4", tmp_path / "out.jsonl"
    result, pid = run_cli_pid("run", str(vtest), str(vtest), "--model", str(model),
                              "--batch", "4", "-o", str(out), "--json", str(jsonl),
                              "--max-frames", "24", "--no-progress", timeout=900)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    for stream in (0, 1):
        frames = sorted(x["frame"] for x in lines if x["stream"] == stream)
        assert frames == list(range(24))
        assert probe_video(tmp_path / f"out_{stream}.mp4")[0] == 24
    people = [p for x in lines for p in x["persons"]]
    assert people and all(len(p["keypoints"]) == 17 for p in people)
    assert {x["skeleton"] for x in lines} == {"coco17"}
    assert sum(p["id"] >= 0 for p in people) >= 0.9 * len(people)
    assert shm_segments(pid) == []  # the run's own (another worker's may be live)
