"""benchmarks/host_scaling.py runs to completion (on a tiny clip: the figures are
meaningless, the script and its raw output are checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.media import make_video

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "host_scaling.py"


def test_host_scaling_runs_sharded_and_single_render(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=6)
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--video", str(clip), "--streams", "1", "2",
         "--max-frames", "4", "--height", "64", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    runs = [(r["streams"], r["render"], r["frames"]) for r in figures["runs"]]
    assert runs == [(1, "1", 4), (2, "2", 8), (2, "1", 8)]
    assert figures["cores"] >= 1 and figures["latency_ms"] == 2.0
    for run in figures["runs"]:
        assert run["host_bound_fps"] > 0 and run["cpu_ms_per_frame"] > 0
        renders = [s for s in run["stages"] if s["stage"].startswith("render")]
        assert len(renders) == int(run["render"])
    assert "of the bound" in result.stdout
