"""The command line: pipeline config files, overrides, metrics endpoint during a run."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose import cli
from streampose.observe.progress_log import ProgressLog
from tests.support.cli import run_cli
from tests.support.media import make_video


def write_config(path: Path, clip: Path, extra: str = "") -> Path:
    path.write_text(f'sources = ["{clip.name}"]\n[model]\npath = "openpose-mnv2s-coco18.onnx"\n'
                    f'backend = "fake"\n[outputs]\njson = "o.jsonl"\n'
                    f'summary = "s.json"\n[performance]\nmax_frames = 5\n{extra}')
    return path


def test_config_file_runs_with_paths_relative_to_it(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    config = write_config(tmp_path / "p.toml", clip)
    result = run_cli("run", "--config", str(config), cwd="/")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 5


def test_command_line_overrides_the_config(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    config = write_config(tmp_path / "p.toml", clip)
    result = run_cli("run", "--config", str(config), "--max-frames", "8", "--no-tracking")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(lines) == 8
    assert all(p["id"] == -1 for x in lines for p in x["persons"])


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    config = write_config(tmp_path / "p.toml", clip, extra="[draw]\nboxes = true\nblur = 1\n")
    result = run_cli("run", "--config", str(config))
    assert result.returncode == 2
    assert "[draw].blur" in result.stderr and "Traceback" not in result.stderr


def test_missing_sources_and_model_are_reported(tmp_path: Path) -> None:
    assert "SOURCE" in run_cli("run", "--model", "m.onnx").stderr
    result = run_cli("run", str(make_video(tmp_path / "c.mp4", frames=2)))
    assert result.returncode == 2 and "--model is required" in result.stderr


def test_metrics_endpoint_during_a_run(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streampose", "run", str(clip), "--model",
         "openpose-mnv2s-coco18.onnx", "--backend", "fake", "--metrics-port", "0",
         "--log-level", "INFO", "--json", str(tmp_path / "o.jsonl")],
        stderr=subprocess.PIPE, text=True)
    try:
        port = _metrics_port(proc)
        body = _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        proc.terminate()
        proc.communicate(timeout=120)
    for name in ("streampose_frames_in_total", "streampose_frames_out_total",
                 "streampose_dropped_frames_total", "streampose_latency_seconds",
                 "streampose_stage_busy_ratio", "streampose_fps_out",
                 "streampose_frames_inferred_total", "streampose_work_items_total",
                 "streampose_frames_skipped_total"):
        assert f"\n{name}" in body, name
    assert 'stage="infer' in body and 'stream="0"' in body  # infer, or infer0 with workers


def _metrics_port(proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120  # generous: a loaded machine starts slowly
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "metrics at http://" in line:
            return int(line.rsplit(":", 1)[1].split("/")[0])
    raise AssertionError("the metrics server never announced its address")


def _scrape(url: str) -> str:
    deadline = time.monotonic() + 120  # generous: a loaded machine starts slowly
    while True:
        body = urllib.request.urlopen(url, timeout=30).read().decode()
        if "streampose_frames_out_total{" in body or time.monotonic() > deadline:
            return "\n" + body
        time.sleep(0.2)


def test_tracker_parameters_reach_the_tracker(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    config = write_config(tmp_path / "p.toml", clip, extra="[tracking]\nmin_hits = 4\n")
    result = run_cli("run", "--config", str(config), "--max-frames", "8")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    ids = [[p["id"] for p in x["persons"]] for x in lines]
    assert all(ids[:3]) and all(i == -1 for frame in ids[:3] for i in frame)  # not yet 4 hits
    assert all(ids[3:]) and all(i >= 0 for frame in ids[3:] for i in frame)


def test_sigterm_before_the_stages_start_exits_143(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A SIGTERM while the run is still being validated unwinds like Ctrl-C (exit 143,
    one line); the caller's handler is back afterwards."""

    def terminated_while_validating(*_args: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("the SIGTERM should have ended the run")

    monkeypatch.setattr(cli, "run_command", terminated_while_validating)
    before = signal.getsignal(signal.SIGTERM)
    code = cli.main(["run", "x.mp4", "--model", "m.onnx"])
    assert code == 143
    assert capsys.readouterr().err == "streampose: terminated\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_piped_run_prints_progress_lines(tmp_path: Path) -> None:
    """stderr is a pipe here: no live table, one progress line every --progress-every S."""
    clip = make_video(tmp_path / "clip.mp4", frames=40)
    result = run_cli("run", str(clip), "--model", "openpose-mnv2s-coco18.onnx",
                     "--backend", "fake", "--backend-option", "delay_ms=100",
                     "--progress-every", "0.5", "--json", str(tmp_path / "o.jsonl"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if " frames out (" in line]
    assert len(lines) >= 2, result.stderr  # 40 frames at <= 10 fps: 4 s or more
    assert all(line.startswith("streampose: ") and "/40 frames out" in line for line in lines)
    assert result.stderr.splitlines()[-1].startswith("streampose: 40 frames in")


def _args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["run", "a.mp4", "--model", "m.onnx", *argv])


def test_progress_off_a_terminal_is_lines_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    config = cli.config_of(_args())
    assert isinstance(cli.progress_display(_args(), config), ProgressLog)
    assert cli.progress_display(_args("--progress-every", "0"), config) is None
    assert cli.progress_display(_args("--no-progress"), config) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert isinstance(cli.progress_display(_args(), config), cli.LiveDisplay)
    assert cli.progress_display(_args("--no-progress"), config) is None


@pytest.mark.parametrize(("argv", "unused"), [
    ((), ("mqtt_dropped", "events", "carried", "reconnects")),
    (("--mqtt", "mqtt://127.0.0.1:1883", "--fall", "--interval", "1"), ("reconnects",)),
])
def test_the_status_table_leaves_out_the_counters_not_in_use(
        argv: tuple[str, ...], unused: tuple[str, ...]) -> None:
    assert cli.unused_counters(cli.config_of(_args(*argv))) == unused
    live = cli.build_parser().parse_args(["run", "rtsp://cam/1", "--model", "m.onnx"])
    assert "reconnects" not in cli.unused_counters(cli.config_of(live))


@pytest.mark.parametrize(("flags", "tracked"), [((), False), (("--tracking",), True)])
def test_photos_are_not_tracked_unless_asked(tmp_path: Path, flags: tuple[str, ...],
                                             tracked: bool) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=4)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, frame in enumerate(_frames(clip)):
        cv2.imwrite(str(folder / f"{i}.png"), frame)
    out = tmp_path / "o.jsonl"
    result = run_cli("run", str(folder), "--model", "openpose-mnv2s-coco18.onnx", "--backend",
                     "fake", "--json", str(out), *flags)
    assert result.returncode == 0, result.stderr
    people = [p for line in out.read_text().splitlines() for p in json.loads(line)["persons"]]
    assert people and all((p["id"] >= 0) is tracked for p in people)


def _frames(clip: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames
