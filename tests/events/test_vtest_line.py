"""A line across the walkway of ../shared/media/vtest.mp4, counted by real models with
tracking (openpose-mnthin-coco18 at height 480, and yolo11n-pose in the README's wide-view
configuration), against a count made by hand.

How the hand count was made: the first 250 frames (25 s at 10 fps, 480x360) were exported
as PNG crops around the line (every 5 frames, 0.5 s apart; every 3 frames and enlarged
around each crossing), the line drawn on them, and looked at one by one; a person counts
when their hip midpoint passes from one side of the segment to the other (all crossings
here are well within the segment's length, on the paved path). In frame order:

- frame ~9: the man in a dark coat walking right on the walkway: ``in``;
- frame ~67: a man in black leaves the group by the sign and walks left along the
  upper edge of the path (hips at y ~130): ``out``;
- frame ~95: the same man turns round and walks back right: ``in``;
- frame ~167: a person in a light-blue hooded top walks left along the upper edge: ``out``;
- frame ~188: a man in a navy jacket walks left on the walkway: ``out``;
- frame ~227: a man in a brown jacket walks left along the upper edge: ``out``;
- (frame ~266, a man walking left on the walkway, is past frame 250.)

The line is drawn bottom to top, so ``in`` is walking right on screen.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.shared import shared_file

LINE = "walkway:200,240,200,110"
FRAMES = 250
HAND_COUNT = {"in": 2, "out": 4}


# The PAF model at a height that finds vtest's people; the README's wide-view configuration
# (motion regions, carried poses on 3 frames of 4: events must count carried people too).
CONFIGS = {
    "mnthin-480": ("models/openpose-mnthin-coco18.onnx", ["--height", "480"]),
    "wide-view": ("models/yolo11n-pose.onnx",
                  ["--min-person-height", "11%", "--motion", "on", "--interval", "3"]),
}


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_line_counts_on_vtest_match_the_hand_count(tmp_path: Path, config: str) -> None:
    video = shared_file("media/vtest.mp4")
    name, options = CONFIGS[config]
    model = shared_file(name)
    events = tmp_path / "events.jsonl"
    result = run_cli("run", str(video), "--model", str(model), *options,
                     "--max-frames", str(FRAMES), "--line", LINE, "--events", str(events),
                     "--summary", str(tmp_path / "summary.json"), "--no-progress",
                     timeout=1800)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert all(r["camera"] == "vtest" and r["type"] == "line" and r["rule"] == "walkway"
               for r in records)
    counts = Counter(r["direction"] for r in records)
    assert dict(counts) == HAND_COUNT, records
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["streams"][0]["events"] == len(records)
