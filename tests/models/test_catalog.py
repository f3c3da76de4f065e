"""``streampose models``: what each model found by name is, and where they were looked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.models.catalog import describe, listing
from streampose.models.folders import MODELS_ENV, model_folders
from tests.support.shared import shared_file


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPOSE_CACHE", str(tmp_path / "cache"))


def test_the_shared_models_with_heads_skeletons_and_known_figures() -> None:
    folder = shared_file("models/openpose-mnthin-coco18.onnx").parent
    lines = listing(model_folders(environ={MODELS_ENV: str(folder)}))
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert lines[0].split()[:3] == ["name", "head", "skeleton"]
    assert rows["openpose-mnthin-coco18"][1:3] == ["paf", "coco18"]
    assert rows["openpose-mnv2s-coco18"][1:3] == ["paf", "coco18"]
    assert rows["yolo11n-pose"][1:3] == ["keypoints", "coco17"]
    assert "AGPL-3.0" in rows["yolo11n-pose"] and "Apache-2.0" in rows["openpose-mnthin-coco18"]
    assert any(str(folder) in line for line in lines)


def test_a_file_without_spec_is_listed_with_its_problem(tmp_path: Path) -> None:
    path = tmp_path / "mystery.onnx"
    path.write_bytes(b"not onnx")
    listed = describe("mystery", path)
    assert listed.head == "?" and listed.problem and listed.coco4_ap is None
    assert listed.size == 8


def test_nothing_found_says_where_to_put_files(tmp_path: Path) -> None:
    lines = listing(model_folders(option=tmp_path / "none", environ={}))
    assert lines[0].startswith("no models found")
    assert any(str(tmp_path / "none") in line for line in lines)
    assert any(str(tmp_path / "cache" / "models") in line for line in lines)
    assert "put NAME.onnx" in lines[-1]
