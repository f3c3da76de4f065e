"""``streampose eval``: COCO keypoint metrics, image ids by file name, the error paths."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.cli import main
from streampose.evaluate import METRICS
from tests.support.cli import run_cli
from tests.support.coco4 import Coco4Eval
from tests.support.models import MODEL_NAME
from tests.support.shared import shared_file

FAKE = ("--model", str(MODEL_NAME), "--backend", "fake")


def write_annotations(path: Path, names: list[str], keypoints: int = 17) -> Path:
    """A COCO keypoints annotation file for ``names`` (ids 1, 2, ...), no people."""
    path.write_text(json.dumps({
        "images": [{"id": i, "file_name": name, "width": 96, "height": 64}
                   for i, name in enumerate(names, 1)],
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "skeleton": [],
                        "keypoints": [f"k{i}" for i in range(keypoints)]}]}))
    return path


@pytest.fixture
def blank_images(tmp_path: Path) -> Path:
    """Two uniform images: the fake backend finds no one in them."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(folder / name), np.full((64, 96, 3), 15, np.uint8))
    return folder


def test_other_keypoint_count_is_one_error(tmp_path: Path, blank_images: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ann = write_annotations(tmp_path / "crowdpose.json", ["a.jpg", "b.jpg"], keypoints=14)
    assert main(["eval", str(blank_images), str(ann), *FAKE]) == 2
    err = capsys.readouterr().err.strip()
    assert "14 keypoints" in err and "17 (COCO-17" in err and str(ann) in err
    assert len(err.splitlines()) == 1


def test_missing_pycocotools_names_the_install(tmp_path: Path, blank_images: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for module in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval"):
        monkeypatch.setitem(sys.modules, module, None)
    ann = write_annotations(tmp_path / "ann.json", ["a.jpg", "b.jpg"])
    assert main(["eval", str(blank_images), str(ann), *FAKE]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[eval]"' in err and "Traceback" not in err
    assert "eval needs pycocotools: pip" in err  # not "pycocotools (pycocotools)"


def test_a_module_pycocotools_lacks_is_named_once() -> None:
    from streampose.evaluate import _missing_part

    assert _missing_part(ImportError("x", name="pycocotools.coco")) == ""
    assert _missing_part(ImportError("x", name="matplotlib")) == ", which needs matplotlib"
    assert _missing_part(ImportError("cannot import name 'mask'")) == (
        " (cannot import name 'mask')")


def test_image_missing_from_annotations_is_named(tmp_path: Path, blank_images: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pycocotools", reason="pycocotools (the eval extra) is checked first")
    ann = write_annotations(tmp_path / "ann.json", ["a.jpg"])
    assert main(["eval", str(blank_images), str(ann), *FAKE]) == 2
    assert "b.jpg" in capsys.readouterr().err


def test_no_detections_give_zero_and_json(tmp_path: Path, blank_images: Path) -> None:
    pytest.importorskip("pycocotools", reason="pycocotools (the eval extra) computes AP")
    ann = write_annotations(tmp_path / "ann.json", ["a.jpg", "b.jpg"])
    out = tmp_path / "metrics.json"
    result = run_cli("eval", str(blank_images), str(ann), *FAKE, "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "no person detected" in result.stderr
    metrics = json.loads(out.read_text())
    assert {name: metrics[name] for name in METRICS} == dict.fromkeys(METRICS, 0.0)
    assert metrics["images"] == 2 and metrics["detections"] == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == list(METRICS)


# --- the real model on coco4 ------------------------------------------------------------

@pytest.fixture(scope="module")
def coco4_metrics(coco4_eval: Callable[[str], Coco4Eval]) -> dict[str, float]:
    """``streampose eval`` of the mnv2s model on coco4, metrics from ``--json`` (the run
    tests/heads/test_real_models.py checks too: made once, ``coco4_eval``)."""
    pytest.importorskip("pycocotools", reason="pycocotools (the eval extra) computes AP")
    outcome = coco4_eval(MODEL_NAME.name)
    assert outcome.metrics is not None, outcome.result.stderr
    return _checked(outcome.result, outcome.metrics)


@pytest.mark.shared
def test_coco4_ap(coco4_metrics: dict[str, float]) -> None:
    print("coco4 metrics:", coco4_metrics)
    assert coco4_metrics["AP"] >= 0.40
    assert coco4_metrics["images"] == 4 and coco4_metrics["detections"] > 0


@pytest.mark.shared
def test_ids_by_file_name_not_by_stem(tmp_path: Path, coco4_metrics: dict[str, float]) -> None:
    """coco4 renamed a.jpg, b.jpg, ... with ids renumbered: the same metrics."""
    ann = shared_file("eval/coco4/test_coco.json")
    folder = tmp_path / "renamed"
    folder.mkdir()
    data = json.loads(ann.read_text())
    new_ids = {}
    for new_id, (letter, image) in enumerate(zip("abcd", data["images"], strict=True), 10):
        shutil.copy(ann.parent / image["file_name"], folder / f"{letter}.jpg")
        new_ids[image["id"]] = new_id
        image.update(id=new_id, file_name=f"{letter}.jpg")
    for person in data["annotations"]:
        person["image_id"] = new_ids[person["image_id"]]
    renamed = folder / "ann.json"
    renamed.write_text(json.dumps(data))
    assert _eval(folder, renamed, tmp_path / "metrics.json") == coco4_metrics


def _eval(images: Path, ann: Path, out: Path) -> dict[str, float]:
    model = shared_file(f"models/{MODEL_NAME}")
    result = run_cli("eval", str(images), str(ann), "--model", str(model), "--json", str(out),
                     timeout=600)
    assert result.returncode == 0, result.stderr
    return _checked(result, json.loads(out.read_text()))


def _checked(result: subprocess.CompletedProcess[str],
             metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` (from ``--json``), once the printed table is checked to match them."""
    assert result.returncode == 0, result.stderr
    printed = {line.split()[0]: float(line.split()[1]) for line in result.stdout.splitlines()}
    assert printed == {name: round(metrics[name], 4) for name in METRICS}
    return metrics
