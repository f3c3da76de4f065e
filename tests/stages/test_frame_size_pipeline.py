"""Frames keep their real size and orientation through a whole run (stage processes, the
fake backend, which puts its person on the brightest spot): a file whose resolution goes
up and down mid-stream gives every frame, the person where it is in each size's pixels,
the JSON saying each new size and the recording continued in one segment per size; a
phone video (90-degree display matrix) gives the poses of its upright copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streampose.config import ModelConfig, OutputsConfig, PerformanceConfig, PipelineConfig
from streampose.config.sections import EventsConfig
from streampose.pipeline import Pipeline
from streampose.sources.probe import probe_video
from streampose.sources.video import stored_rotation
from tests.support.media import make_resizing_ts, make_rotated_video, square_frame
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments

SIZES = [(160, 96), (320, 192), (160, 96)]
EACH = 4
CENTRE = (0.5, 0.5)


def _run(tmp_path: Path, source: Path, events: EventsConfig | None = None,
         **performance: object) -> tuple[list[dict], dict]:
    jsonl, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(sources=(str(source),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake", height=96),
                            outputs=OutputsConfig(json=jsonl, summary=summary,
                                                  video=str(tmp_path / "out.mp4")),
                            events=events or EventsConfig(),
                            performance=PerformanceConfig(**performance))  # type: ignore[arg-type]
    Pipeline(config).run()
    assert not shm_segments()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return records, json.loads(summary.read_text())


def _centre(record: dict) -> tuple[float, float]:
    """Median (x, y) of the frame's one person's keypoints."""
    assert len(record["persons"]) == 1, record
    kp = np.array(record["persons"][0]["keypoints"], np.float32)
    found = kp[kp[:, 2] > 0]
    return float(np.median(found[:, 0])), float(np.median(found[:, 1]))


def test_a_file_whose_resolution_goes_up_and_down_keeps_every_frame(tmp_path: Path) -> None:
    clip = make_resizing_ts(tmp_path / "resizing.ts", SIZES, EACH, centre=CENTRE)
    records, summary = _run(tmp_path, clip)
    assert [r["frame"] for r in records] == list(range(len(SIZES) * EACH))
    stream = summary["streams"][0]
    assert stream["frames_out"] == stream["frames_in"] == len(SIZES) * EACH
    assert stream["rescaled"] == 0
    sizes = [(r.get("width"), r.get("height")) for r in records]
    changes = {i: size for i, size in enumerate(sizes) if size != (None, None)}
    assert changes == {EACH: SIZES[1], 2 * EACH: SIZES[2]}  # only where the size changes
    for i, record in enumerate(records):  # the person at the square, in that size's pixels
        width, height = SIZES[i // EACH]
        x, y = _centre(record)
        assert abs(x - CENTRE[0] * width) < width / 10 and abs(y - CENTRE[1] * height) < height / 4
    segments = [tmp_path / "out.mp4", tmp_path / "out-part2-320x192.mp4",
                tmp_path / "out-part3-160x96.mp4"]
    for path, size in zip(segments, SIZES, strict=True):  # playable, each at its own size
        assert probe_video(path)[0::2] == (EACH, size[0]) and probe_video(path)[3] == size[1]
    render = next(s for s in summary["stages"] if s["stage"].startswith("render"))
    assert render["video_segments"] == {"0": [str(p) for p in segments]}


def test_letterboxed_recording_keeps_the_first_size(tmp_path: Path) -> None:
    clip = make_resizing_ts(tmp_path / "resizing.ts", SIZES, EACH, centre=CENTRE)
    records, _ = _run(tmp_path, clip, recording_resize="letterbox")
    assert len(records) == len(SIZES) * EACH
    assert probe_video(tmp_path / "out.mp4")[0::2] == (len(SIZES) * EACH, SIZES[0][0])
    assert not (tmp_path / "out-part2-320x192.mp4").exists()


def _found_at_the_square(records: list[dict], sizes: list[tuple[int, int]],
                         centre: tuple[float, float] = CENTRE) -> None:
    """Each record's one person at the square, in its source picture's pixels."""
    for i, record in enumerate(records):
        width, height = sizes[i // EACH]
        x, y = _centre(record)
        assert abs(x - centre[0] * width) < width / 10, (i, x)
        assert abs(y - centre[1] * height) < height / 4, (i, y)


def test_frames_above_max_frame_size_are_scaled_down_and_counted(tmp_path: Path) -> None:
    clip = make_resizing_ts(tmp_path / "resizing.ts", SIZES, EACH, centre=CENTRE)
    records, summary = _run(tmp_path, clip, max_frame_size="240x240")
    assert [r["frame"] for r in records] == list(range(len(SIZES) * EACH))
    assert summary["streams"][0]["rescaled"] == EACH
    assert (records[EACH]["width"], records[EACH]["height"]) == SIZES[1]  # the source's
    _found_at_the_square(records, SIZES)
    part2 = tmp_path / "out-part2-240x144.mp4"  # recorded as scaled: aspect kept
    assert probe_video(part2)[0::2] == (EACH, 240) and probe_video(part2)[3] == 144


def test_poses_of_scaled_frames_are_in_the_source_s_pixels(tmp_path: Path) -> None:
    """160x96 then 320x192 with --max-frame-size 160x96: the second half is scaled to
    160x96 (one recording), its people found where they are in 320x192; a zone in the
    source's pixels sees them there (entered once, when the picture grows)."""
    sizes, centre = [(160, 96), (320, 192)], (0.6, 0.5)
    clip = make_resizing_ts(tmp_path / "growing.ts", sizes, EACH, centre=centre)
    zone = {"name": "right", "points": [150, 40, 300, 40, 300, 180, 150, 180]}
    events_path = tmp_path / "events.jsonl"
    records, summary = _run(tmp_path, clip, max_frame_size="160x96",
                            events=EventsConfig(jsonl=events_path, zone=(zone,)))
    assert [r["frame"] for r in records] == list(range(2 * EACH))
    stream = summary["streams"][0]
    assert stream["rescaled"] == EACH and stream["frames_out"] == 2 * EACH
    assert (records[EACH]["width"], records[EACH]["height"]) == sizes[1]
    assert all("width" not in r for i, r in enumerate(records) if i != EACH)
    _found_at_the_square(records, sizes, centre)
    assert probe_video(tmp_path / "out.mp4")[0::2] == (2 * EACH, 160)  # all at 160x96
    assert not (tmp_path / "out-part2-160x96.mp4").exists()
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert [(e["type"], e["frame"]) for e in events] == [("enter", EACH)]


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_rotated_phone_video_gives_the_poses_of_its_upright_copy(
        tmp_path: Path, rotation: int) -> None:
    upright = [square_frame((96, 160), (0.3, 0.35 + 0.05 * i), 16) for i in range(6)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, _ = _run(tmp_path / "a", make_rotated_video(tmp_path / "up.mp4", upright, 0))
    turned, summary = _run(tmp_path / "b",
                           make_rotated_video(tmp_path / "phone.mp4", upright, rotation))
    assert len(turned) == len(straight) == len(upright)
    for a, b in zip(straight, turned, strict=True):
        assert np.allclose(_centre(a), _centre(b), atol=3.0)
    assert "width" not in turned[0]  # the size probed is the displayed one: 96x160
    decode = next(s for s in summary["stages"] if s["stage"].startswith("decode"))
    assert decode["autorotated"] == rotation
    assert probe_video(tmp_path / "b" / "out.mp4")[2:] == (96, 160)  # displays upright
    assert stored_rotation(tmp_path / "b" / "out.mp4") == 0


def test_no_autorotate_keeps_the_stored_orientation(tmp_path: Path) -> None:
    upright = [square_frame((96, 160), (0.3, 0.35), 16) for _ in range(3)]
    records, summary = _run(tmp_path, make_rotated_video(tmp_path / "phone.mp4", upright, 90),
                            autorotate=False)
    x, y = _centre(records[0])  # the square as stored: turned a quarter clockwise
    assert abs(x - (160 - 0.35 * 160)) < 8 and abs(y - 0.3 * 96) < 8
    decode = next(s for s in summary["stages"] if s["stage"].startswith("decode"))
    assert "autorotated" not in decode
    assert probe_video(tmp_path / "out.mp4")[2:] == (160, 96)
    assert stored_rotation(tmp_path / "out.mp4") == 90  # the display matrix kept: plays upright
