"""benchmarks/gpu.py must not break on the GPU it was written for: run its code on the CPU.

``--cpu-smoke`` runs the same model-only and pipeline phases (host and device ops) on a
tiny clip with the torch backend; the figures are meaningless, the code path is checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.media import make_video

pytest.importorskip("torch", reason="the smoke run uses the torch backend")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


@pytest.mark.slow
def test_gpu_benchmark_runs_as_a_cpu_smoke_test(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=6, size=(192, 108))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-smoke", "--device", "cpu", "--backend", "torch",
         "--weights", "random", "--video", str(clip), "--batches", "1", "2", "--frames", "4",
         "--height", "64", "--fp32", "--min-seconds", "0", "--postprocess-workers", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "CPU smoke run (NOT GPU figures)" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [(r[0], r[5]) for r in rows] == [("1", "host"), ("1", "device"), ("2", "host"),
                                            ("2", "device")]
    host, device = (float(rows[0][9]), float(rows[1][9]))  # KB back per frame
    assert device < host


def test_gpu_benchmark_without_a_gpu_says_so() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no CUDA device found" in result.stderr
