"""Outputs: COCO results, OpenPose JSON, annotated image folders, image ids."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.outputs.base import image_id
from tests.support.cli import run_cli
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shared import shared_file


@pytest.mark.parametrize(("name", "index", "expected"), [
    ("000000000785.jpg", 3, 785), ("42.png", 0, 42), ("img_42.png", 7, 7), (None, 5, 5),
    ("0.jpg", 9, 0),
])
def test_image_id_follows_coco_file_names(name, index, expected) -> None:
    assert image_id(name, index) == expected


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Three images of different sizes named like COCO files, one bright spot each."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (w, h) in enumerate([(96, 64), (64, 96), (120, 80)]):
        image = np.full((h, w, 3), 15, np.uint8)
        cv2.circle(image, (w // 2, h // 3), 4, (255, 255, 255), -1)
        cv2.imwrite(str(folder / f"{100 + i:012d}.jpg"), image)
    return folder


def test_image_folder_outputs(tmp_path: Path, images: Path) -> None:
    out = tmp_path / "annotated"
    coco, openpose = tmp_path / "res.json", tmp_path / "op"
    result = run_cli("run", str(images), "--model", str(MODEL_NAME), "--backend", "fake",
                     "-o", f"{out}/",
                     "--coco", str(coco), "--openpose-json", str(openpose),
                     "--json", str(tmp_path / "o.jsonl"))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in images.iterdir())
    assert cv2.imread(str(out / written[1])).shape == (96, 64, 3)  # each keeps its size
    results = json.loads(coco.read_text())
    assert {r["image_id"] for r in results} <= {100, 101, 102}
    for r in results:
        assert r["category_id"] == 1 and len(r["keypoints"]) == 51
        assert isinstance(r["score"], float)
    files = sorted(p.name for p in openpose.iterdir())
    assert files == [f"{100 + i:012d}_keypoints.json" for i in range(3)]
    frame = json.loads((openpose / files[0]).read_text())
    assert frame["version"] == 1.3
    for person in frame["people"]:
        assert len(person["pose_keypoints_2d"]) == 18 * 3
        assert isinstance(person["person_id"], list)
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["image"] for x in lines] == sorted(p.name for p in images.iterdir())


def test_image_source_needs_a_folder_output(tmp_path: Path, images: Path) -> None:
    result = run_cli("run", str(images), "--model", str(MODEL_NAME), "--backend", "fake",
                     "-o", str(tmp_path / "x.mp4"))
    assert result.returncode == 2 and "folder" in result.stderr


def test_openpose_json_for_video_names_frames(tmp_path: Path) -> None:

    clip = make_video(tmp_path / "clip.mp4", frames=4)
    result = run_cli("run", str(clip), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--openpose-json", str(tmp_path / "op"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "op").iterdir())
    assert names == [f"clip_{i:012d}_keypoints.json" for i in range(4)]


@pytest.mark.shared
@pytest.mark.parametrize("device_ops", ["off", "on"])
def test_coco4_cli_reaches_ap_038(tmp_path: Path, device_ops: str) -> None:
    """``on``: letterbox and peaks in torch (on the CPU here), fp16 PAFs through the ring."""
    pytest.importorskip("pycocotools", reason="pycocotools (the dev extra) computes COCO AP")
    if device_ops == "on":
        pytest.importorskip("torch", reason="--device-ops on runs on torch")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_path = shared_file("eval/coco4/test_coco.json")
    model = shared_file(f"models/{MODEL_NAME}")
    out = tmp_path / "res.json"
    result = run_cli("run", str(gt_path.parent), "--coco", str(out), "--model", str(model),
                     "--device-ops", device_ops)
    assert result.returncode == 0, result.stderr
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        evaluation = COCOeval(gt, gt.loadRes(str(out)), "keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    ap = float(evaluation.stats[0])
    print(f"COCO keypoint AP of `streampose run coco4 --coco --device-ops {device_ops}`: "
          f"{ap:.4f}")
    assert ap >= 0.38
