"""benchmarks/console.py runs to the end on a tiny clip with the fake backend (figures
meaningless, the code path checked: baseline, console, one Python viewer)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.media import make_video
from tests.support.models import MODEL_NAME

pytestmark = [pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "console.py"


def test_console_benchmark_runs_on_a_short_input(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=40, size=(192, 108))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--video", str(clip), "--frames", "40", "--model",
         str(MODEL_NAME), "--backend", "fake"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in ("baseline", "serve", "viewer"):
        assert any(line.split()[:1] == [name] and "steady" in line for line in lines), name
    assert "events: skipped" in result.stdout
