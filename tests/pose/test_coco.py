"""Real model: openpose-mnv2s-coco18.onnx over ../shared/eval/coco4, COCO keypoint AP."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from streampose.pose import COCO18, PafDecoder
from streampose.pose.coco import to_coco_results
from tests.support.shared import shared_file

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("pycocotools", reason="pycocotools (the dev extra) computes COCO AP")

HEIGHT, STRIDE = 368, 8


def _maps(session, image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Network maps (C, h, w) for an image letterboxed to height 368 (MODEL.md)."""
    h, w = image.shape[:2]
    new_w = round(w * HEIGHT / h)
    width = -(-new_w // STRIDE) * STRIDE
    batch = np.zeros((1, HEIGHT, width, 3), np.float32)
    batch[0, :, :new_w] = cv2.resize(image, (new_w, HEIGHT), interpolation=cv2.INTER_AREA)
    out = session.run(None, {"image:0": batch})[0][0]
    return out.transpose(2, 0, 1), new_w / w, HEIGHT / h


def _evaluate(gt_path, results) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluation = COCOeval(gt, gt.loadRes(results), "keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


@pytest.mark.shared
def test_coco4_keypoint_ap_at_least_038() -> None:
    model = shared_file("models/openpose-mnv2s-coco18.onnx")
    gt_path = shared_file("eval/coco4/test_coco.json")
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    decoder = PafDecoder(COCO18)
    results = []
    for image in json.loads(gt_path.read_text())["images"]:
        frame = cv2.imread(str(gt_path.parent / image["file_name"]))
        maps, sx, sy = _maps(session, frame)
        poses = decoder(maps[:19], maps[19:])
        # map cell j covers input [8j, 8j + 8): centre 8(j + 0.5), minus half a pixel
        in_image = poses.transformed(scale=(STRIDE / sx, STRIDE / sy),
                                     offset=(4 / sx - 0.5, 4 / sy - 0.5))
        results += to_coco_results(in_image, image["id"])
    ap = _evaluate(gt_path, results)
    print(f"COCO keypoint AP on coco4: {ap:.4f}")
    assert ap >= 0.38
