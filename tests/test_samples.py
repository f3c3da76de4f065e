"""The samples run as scripts: line crossings counted from tracked JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _person(x: float, track: int) -> dict:
    keypoints = [[0.0, 0.0, 0.0] for _ in range(18)]
    keypoints[1] = [x, 50.0, 0.9]
    return {"keypoints": keypoints, "score": 0.5, "id": track}


def test_count_line_crossings(tmp_path: Path) -> None:
    frames = [[_person(100, 1), _person(300, 2)], [_person(200, 1), _person(260, 2)],
              [_person(260, 1), _person(220, 2)], [_person(300, 1)], [_person(100, -1)]]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"stream": 0, "frame": i, "persons": persons}) + "\n"
                            for i, persons in enumerate(frames)))
    result = subprocess.run([sys.executable, str(SAMPLES / "count_line_crossings.py"),
                             str(path), "--x", "240"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"left_to_right": 1, "right_to_left": 1}


def test_samples_have_help() -> None:
    for script in sorted(SAMPLES.glob("*.py")):
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0 and "usage" in result.stdout, script.name
