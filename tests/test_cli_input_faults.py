"""``streampose run`` on bad and damaged input (issue 14): exit code, exactly one stderr
line, no traceback, no output file left where none should be; damaged input survives
with its damage counted in the summary and the final line. Fake backend: the model is
not the point here.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.damaged import (
    flip_bytes,
    make_textured_video,
    plain_decode,
    truncate_copy,
    zero_packets,
)
from tests.support.models import MODEL_NAME


@contextmanager
def _refusing_rtsp() -> Iterator[str]:
    """An RTSP URL on a loopback port bound but never listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"rtsp://127.0.0.1:{sock.getsockname()[1]}/live"


def _junk_images(folder: Path) -> str:
    folder.mkdir()
    (folder / "a.jpg").write_text("not a jpeg")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return str(folder)


def _run(tmp_path: Path, *source: str) -> tuple[int, list[str], list[str]]:
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("run", *source, "--model", str(MODEL_NAME), "--backend", "fake",
                     "-o", str(out / "o/"), "--json", str(out / "o.jsonl"),
                     "--coco", str(out / "coco.json"), "--openpose-json", str(out / "op/"))
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr.strip().splitlines(), sorted(
        p.name for p in out.iterdir())


# (exit code, the one stderr line as a regex) per bad input
BAD_INPUTS: dict[str, tuple[Callable[[Path], list[str]], int, str]] = {
    "malformed-url": (lambda t: ["rtsp://[::1"], 2,
                      r"^streampose: error: rtsp://\[::1: malformed URL \(Invalid IPv6 URL\)$"),
    "url-without-host": (lambda t: ["rtsp:///live"], 2,
                         r"^streampose: error: rtsp:///live: malformed URL \(no host\)$"),
    "every-image-unreadable": (
        lambda t: [_junk_images(t / "imgs")], 3,
        r"^streampose: error: .*imgs: none of the 2 images can be read \(the first: a\.jpg"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_no_outputs(tmp_path: Path, case: str) -> None:
    make, code, line = BAD_INPUTS[case]
    returncode, stderr, outputs = _run(tmp_path, *make(tmp_path))
    assert returncode == code, stderr
    assert len(stderr) == 1 and re.match(line, stderr[0]), stderr
    assert outputs == []  # refused before any stage starts: nothing created


def test_undecodable_video_is_given_up_with_a_summary(tmp_path: Path) -> None:
    clip = make_textured_video(tmp_path / "c.mp4", frames=12)
    damaged = zero_packets(clip, tmp_path / "z.mp4", 0, 12)
    summary = tmp_path / "summary.json"
    result = run_cli("run", str(damaged), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--json", str(tmp_path / "o.jsonl"), "--summary", str(summary))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    *warnings, last = result.stderr.strip().splitlines()
    assert re.match(r"^streampose: error: .*z\.mp4: no frame could be decoded "
                    r"\(12 decode errors\)$", last), last
    assert warnings and all(" WARNING " in w and "z.mp4" in w for w in warnings)
    report = json.loads(summary.read_text())  # written for a failed run too
    assert report["error"]["exit_code"] == 3 and "no frame" in report["error"]["message"]
    assert report["streams"][0]["decode_errors"] == 12
    assert (tmp_path / "o.jsonl").read_text() == ""  # valid: no frame, no line


def test_unreachable_live_source_without_reconnect(tmp_path: Path) -> None:
    with _refusing_rtsp() as url:
        returncode, stderr, outputs = _run(tmp_path, url, "--no-reconnect")
    assert returncode == 3, stderr
    assert stderr == [f"streampose: error: {url}: cannot open (Connection refused)"]
    assert outputs == []  # no 0-frame MP4, no empty JSON lines


DAMAGED: dict[str, Callable[[Path, Path], Path]] = {
    "flipped": lambda src, dst: flip_bytes(src, dst, length=src.stat().st_size // 100),
    "truncated50": lambda src, dst: truncate_copy(src, dst, 0.5),
    "zeroed-run": lambda src, dst: zero_packets(src, dst, 20, 5),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_video_runs_to_the_end_and_counts(tmp_path: Path, case: str) -> None:
    clip = make_textured_video(tmp_path / "clip.mp4", frames=40)
    damaged = DAMAGED[case](clip, tmp_path / f"{case}.mp4")
    summary = tmp_path / "summary.json"
    result = run_cli("run", str(damaged), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--json", str(tmp_path / "o.jsonl"), "--summary", str(summary))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    stream = json.loads(summary.read_text())["streams"][0]
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert stream["frames_out"] == len(lines) >= plain_decode(damaged) - 1
    assert stream["decode_errors"] > 0
    assert stream["frames_out"] + stream["decode_errors"] == 40
    last = result.stderr.strip().splitlines()[-1]
    assert f"{stream['decode_errors']} decode errors skipped" in last
    assert "skipped damaged data" in result.stderr or "frame(s) lost" in result.stderr


def test_unreadable_image_is_skipped_and_counted(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.jpg", "c.jpg"):
        cv2.imwrite(str(folder / name), np.full((48, 64, 3), 90, np.uint8))
    (folder / "b.jpg").write_text("meeting notes, not a picture")
    summary = tmp_path / "summary.json"
    result = run_cli("run", str(folder), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--json", str(tmp_path / "o.jsonl"), "--summary", str(summary))
    assert result.returncode == 0, result.stderr
    assert "b.jpg" in result.stderr and "Traceback" not in result.stderr
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [(r["frame"], r["image"]) for r in records] == [(0, "a.jpg"), (2, "c.jpg")]
    assert json.loads(summary.read_text())["streams"][0]["decode_errors"] == 1
