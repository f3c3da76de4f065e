"""The samples run as scripts: line crossings counted from tracked JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.shared import shared_file

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
                             str(path), "--x", "240"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"left_to_right": 1, "right_to_left": 1}


def test_samples_have_help() -> None:
    for script in sorted(SAMPLES.glob("*.py")):
        result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0 and "usage" in result.stdout, script.name


BAD_INPUT = [
    ("annotate_video.py", ["missing.mp4", "out.mp4", "--model", "MODEL"], "missing.mp4"),
    ("camera_to_jsonl.py", ["missing.mp4", "o.jsonl", "--model", "no-such-model.onnx"],
     "no-such-model.onnx"),
    ("count_line_crossings.py", ["missing.jsonl", "--x", "1"], "missing.jsonl"),
    ("count_people.py", ["missing.mp4", "--model", "MODEL"], "missing.mp4"),
    ("count_line_crossings.py", ["bad.jsonl", "--x", "1"], "not streampose JSON lines"),
]


@pytest.mark.parametrize(("script", "args", "named"), BAD_INPUT,
                         ids=[f"{s}-{a[0]}" for s, a, _ in BAD_INPUT])
def test_samples_give_one_line_for_bad_input(tmp_path: Path, script: str, args: list[str],
                                             named: str) -> None:
    (tmp_path / "bad.jsonl").write_text("not json\n")
    if "MODEL" in args:  # a real model file, so that the missing video is what fails
        args = [str(shared_file("models/openpose-mnv2s-coco18.onnx")) if a == "MODEL" else a
                for a in args]
    result = subprocess.run([sys.executable, str(SAMPLES / script), *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and named in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "o.jsonl").exists()


@pytest.mark.shared
@pytest.mark.slow
def test_count_people_counts_each_camera_through_the_stream_api() -> None:
    video = shared_file("media/vtest.mp4")
    model = shared_file("models/openpose-mnv2s-coco18.onnx")
    result = subprocess.run([sys.executable, str(SAMPLES / "count_people.py"), str(video),
                             "--model", str(model), "--duration", "3"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    counts = [line.split(": ") for line in result.stdout.splitlines()]
    assert counts and all(camera == "vtest" and int(n) >= 0 for camera, n in counts)
    assert any(int(n) > 0 for _, n in counts)  # vtest has people in every stretch
