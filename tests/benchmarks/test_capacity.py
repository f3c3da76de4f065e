"""benchmarks/capacity.py runs a sweep end to end: one RTSP test camera, the fake backend,
a short window (figures meaningless: the script, its window and its outputs are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.camera import VTEST, rtsp_available
from tests.support.models import MODEL_NAME

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "capacity.py"


@pytest.mark.live
@pytest.mark.slow
def test_capacity_sweep_on_one_live_camera(tmp_path: Path) -> None:
    reason = rtsp_available()
    if reason is not None or not VTEST.exists():
        pytest.skip(f"no RTSP test server or vtest.mp4: {reason}")
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config",
         f"fake=--model {MODEL_NAME} --backend fake --height 64", "--max-cameras", "1",
         "--warmup", "1", "--trial", "4", "--max-lag", "30", "--max-drop", "1",
         "--json", str(out), "--keep", str(tmp_path / "trials")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| fake | vtest.mp4 | 1+ |" in result.stdout
    (sweep,) = json.loads(out.read_text())["results"]
    (trial,) = sweep["trials"]
    assert trial["holds"] and trial["cameras"] == 1 and 3 < trial["seconds"] < 10
    assert trial["streams"][0]["frames_out"] > 0 and trial["cpu_s"] > 0
    assert (tmp_path / "trials" / "fake-vtest-1" / "summary.json").is_file()
    recall = trial["camera0_recall"]  # whatever the fake poses give, or why it is unknown
    assert recall["frames_out"] > 0 and (recall["recall"] is None) == bool(recall["unknown"])
    assert list((tmp_path / "trials").glob("reference-fake-vtest-*.jsonl"))
