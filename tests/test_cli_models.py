"""``--model NAME`` and ``streampose models``, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.media import make_video
from tests.support.shared import ROOT, shared_file


def _cli(*args: str, tmp_path: Path, models: Path | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STREAMPOSE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    env.pop("STREAMPOSE_MODELS", None)
    if models is not None:
        env["STREAMPOSE_MODELS"] = str(models)
    return subprocess.run([sys.executable, "-m", "streampose", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)


def test_models_lists_the_shared_models(tmp_path: Path) -> None:
    folder = shared_file("models/openpose-mnthin-coco18.onnx").parent
    result = _cli("models", tmp_path=tmp_path, models=folder)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()[1:4]}
    assert rows == {"openpose-mnthin-coco18": ["paf", "coco18"],
                    "openpose-mnv2s-coco18": ["paf", "coco18"],
                    "yolo11n-pose": ["keypoints", "coco17"]}


def test_model_by_name_runs(tmp_path: Path) -> None:
    folder = shared_file("models/openpose-mnthin-coco18.onnx").parent
    clip = make_video(tmp_path / "clip.mp4", frames=3)
    result = _cli("run", str(clip), "--model", "openpose-mnthin-coco18", "--json",
                  str(tmp_path / "o.jsonl"), "--summary", str(tmp_path / "s.json"),
                  tmp_path=tmp_path, models=folder)
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3


def test_a_pipeline_file_names_its_model_and_folder(tmp_path: Path) -> None:
    folder = shared_file("models/openpose-mnv2s-coco18.onnx").parent
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    (tmp_path / "p.toml").write_text(
        f'sources = ["{clip.name}"]\n[model]\npath = "openpose-mnv2s-coco18"\n'
        f'dir = "{folder}"\n[outputs]\njson = "o.jsonl"\n')
    result = _cli("run", "--config", str(tmp_path / "p.toml"), tmp_path=tmp_path, cwd=Path("/"))
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


def test_an_unknown_name_is_one_line_with_the_names_and_folders(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "present.onnx").write_bytes(b"")
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    result = _cli("run", str(clip), "--model", "absent", "--models-dir", str(models),
                  tmp_path=tmp_path)
    assert result.returncode == 5
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'absent' not found" in lines[0]
    assert "present" in lines[0] and str(models) in lines[0] and "user cache" in lines[0]
