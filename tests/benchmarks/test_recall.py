"""benchmarks/recall.py runs to the end on a tiny clip with the fake backend (figures
meaningless: the run, the JSON lines read back, the scoring and both outputs are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.media import make_video
from tests.support.models import MODEL_NAME

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recall.py"


def test_recall_benchmark_scores_a_configuration_on_a_short_clip(tmp_path: Path) -> None:
    make_video(tmp_path / "clip.mp4", frames=6)
    truth = {"videos": {"clip.mp4": {"width": 96, "height": 64, "frames": {
        "1": [{"box": [10, 10, 30, 60]}, {"box": [40, 10, 60, 60]}],
        "3": [{"box": [50, 5, 70, 60], "ignore": True}]}}}}
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--gt", str(tmp_path / "gt.json"), "--media",
         str(tmp_path), "--video", "clip.mp4", "--no-defaults", "--config",
         f"--model {MODEL_NAME} --backend fake --height 64", "--json", str(out),
         "--keep", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["config"] == f"{MODEL_NAME.stem} --backend fake --height 64"
    assert (row["video"], row["frames_scored"], row["people"]) == ("clip.mp4", 2, 2)
    assert row["people_per_frame"] == 1.0 and row["steady_fps"] > 0
    assert 0 <= row["hits"] <= row["people"] and 0 <= row["recall"] <= 1
    assert "| clip.mp4 |" in result.stdout
    kept = tmp_path / "runs" / "0"
    assert {"out.jsonl", "summary.json", "out.mp4"} <= {p.name for p in kept.iterdir()}


def test_recall_benchmark_refuses_a_video_without_ground_truth(tmp_path: Path) -> None:
    (tmp_path / "gt.json").write_text(json.dumps({"videos": {"a.mp4": {"frames": {}}}}))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--gt", str(tmp_path / "gt.json"), "--video", "b.mp4"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "b.mp4: not in" in result.stderr
