"""The streaming Python API end to end: results in order and equal to the JSON lines,
and the run stopped cleanly however the caller leaves (the end, break, an exception,
close(), Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import streampose
from streampose.errors import OutputError, SourceError
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shared import ROOT, shared_file
from tests.support.shm import shm_segments
from tests.support.signals import default_interrupt

STOP_S = 60.0  # a stopped run ends well before this, even on a loaded machine


def _fake(source: Path | str, **options: Any) -> streampose.Stream:
    return streampose.stream(str(source), model=MODEL_NAME, backend="fake", **options)


def _without_wall(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "wall"}


def _ended(summary: Any) -> None:
    """Every stage process and the pipeline thread are gone, and /dev/shm is clean."""
    assert not [t for t in threading.enumerate() if t.name == "streampose-pipeline"]
    for stage in summary.stages:
        with pytest.raises(ProcessLookupError):
            os.kill(stage["pid"], 0)
    assert shm_segments() == []


def test_every_frame_in_order_as_the_json_lines_give_it(tmp_path: Path, clip: Path) -> None:
    jsonl = tmp_path / "o.jsonl"
    with _fake(clip, json=jsonl) as results:
        got = list(results)
    assert [r.frame for r in got] == list(range(12))
    assert {r.camera for r in got} == {"clip"} and {r.stream for r in got} == {0}
    assert [r.time for r in got] == pytest.approx([i / 10 for i in range(12)])
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [r.to_json() for r in got] == lines
    assert all(r.image is None and r.events == () and r.dropped == 0 for r in got)
    summary = results.close()
    assert summary is not None and summary.streams[0]["frames_out"] == 12
    assert summary.streams[0]["stream_dropped"] == 0
    _ended(summary)


def test_events_come_with_their_frame(tmp_path: Path, clip: Path) -> None:
    """The clip's bright square moves right: the fake backend's person crosses x = 40."""
    events = tmp_path / "events.jsonl"
    with _fake(clip, line=[{"name": "mid", "points": [40, 0, 40, 64]}], events=events) as results:
        got = [(r.frame, e) for r in results for e in r.events]
    assert got and all(e.frame == frame and e.rule == "mid" for frame, e in got)
    assert [e.to_json() for _, e in got] == [json.loads(x) for x in events.read_text().splitlines()]


def test_pictures_when_asked(clip: Path) -> None:
    with _fake(clip, images=True, max_frames=3) as results:
        pictures = [r.image for r in results]
    assert len(pictures) == 3
    assert all(p is not None and p.shape == (64, 96, 3) and p.dtype.name == "uint8"
               for p in pictures)


def test_breaking_out_stops_the_run() -> None:
    video = shared_file("media/vtest.mp4")  # long enough to be running when left
    results = _fake(video, buffer=2)
    for result in results:
        if result.frame == 4:
            break
    started = time.monotonic()
    summary = results.close()
    assert time.monotonic() - started < STOP_S
    assert summary is not None and 5 <= summary.streams[0]["frames_out"] < 700
    _ended(summary)


def test_leaving_the_loop_of_an_unnamed_stream_stops_the_run() -> None:
    """No ``with``, no ``close()``: the stream is closed when the loop lets it go."""
    video = shared_file("media/vtest.mp4")
    for result in _fake(video, buffer=2):
        if result.frame == 2:
            break
    assert not [t for t in threading.enumerate() if t.name == "streampose-pipeline"]
    assert shm_segments() == []


def test_an_exception_in_the_loop_stops_the_run_and_is_the_one_raised() -> None:
    video = shared_file("media/vtest.mp4")
    with pytest.raises(ZeroDivisionError), _fake(video) as results:
        for result in results:
            if result.frame == 2:
                _ = 1 / 0
    assert results.summary is not None
    _ended(results.summary)


def test_closed_before_the_first_result(clip: Path) -> None:
    results = _fake(clip)
    summary = results.close()
    assert list(results) == []
    assert summary is not None
    _ended(summary)


def test_a_bad_source_fails_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        _fake(tmp_path / "missing.mp4")
    assert shm_segments() == []


def test_a_failed_run_raises_its_error_from_the_loop(tmp_path: Path, clip: Path) -> None:
    from streampose.outputs.lock import OutputLocks

    path = tmp_path / "o.jsonl"
    with OutputLocks([("--json", path)], refuse=True):  # another run writes it
        results = _fake(clip, json=path, overwrite=False)
        with pytest.raises(OutputError, match="another streampose run"):
            list(results)
    assert results.close() is None  # raised once
    assert shm_segments() == []


def test_render_shards_put_every_stream_on_the_one_queue(tmp_path: Path) -> None:
    clips = [make_video(tmp_path / f"c{i}.mp4", frames=n) for i, n in enumerate((12, 7))]
    with streampose.stream(clips, model=MODEL_NAME, backend="fake", render_shards="2",
                           buffer=1) as results:
        got = list(results)
    summary = results.close()
    assert summary is not None and {s["stage"] for s in summary.stages} >= {"render0", "render1"}
    assert [r.frame for r in got if r.stream == 0] == list(range(12))
    assert [r.frame for r in got if r.stream == 1] == list(range(7))
    assert {r.camera for r in got} == {"c0", "c1"}


CTRL_C = """
import os, sys, time, streampose
results = streampose.stream({video!r}, model={model!r}, backend="fake", buffer=2)
try:
    for r in results:
        print("frame", r.frame, flush=True)
        time.sleep(0.05)  # a caller slower than the run: the video cannot end first
except KeyboardInterrupt:
    print("interrupted", flush=True)
    summary = results.close()
    print("pids", *(s["pid"] for s in summary.stages), flush=True)
"""


def test_ctrl_c_without_a_main_guard_stops_the_run() -> None:
    """Ctrl-C while iterating, in a program without ``if __name__ == "__main__"`` (like a
    notebook's cell): KeyboardInterrupt in the loop, the run stopped, nothing left."""
    video = shared_file("media/vtest.mp4")
    code = textwrap.dedent(CTRL_C.format(video=str(video), model=str(MODEL_NAME)))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=default_interrupt)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("frame 3"):
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=STOP_S)
    assert proc.returncode == 0 and "interrupted" in out, out
    pids = [int(p) for p in out.split("pids", 1)[1].split()]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert shm_segments(proc.pid) == []


@pytest.mark.shared
@pytest.mark.slow
def test_50_vtest_frames_equal_the_json_lines_of_the_same_settings(tmp_path: Path) -> None:
    video, model = shared_file("media/vtest.mp4"), shared_file(f"models/{MODEL_NAME}")
    reference = tmp_path / "ref.jsonl"
    from streampose.config.keywords import config_of

    streampose.Pipeline(config_of(str(video), model=model, json=reference,
                                  max_frames=50)).run()
    expected = [_without_wall(json.loads(x)) for x in reference.read_text().splitlines()]
    assert len(expected) == 50
    got = []
    with streampose.stream(str(video), model=model) as results:
        for result in results:
            got.append(result)
            if len(got) == 50:
                break
        started = time.monotonic()
    stopped_s = time.monotonic() - started
    assert [r.frame for r in got] == list(range(50))
    assert [_without_wall(r.to_json()) for r in got] == expected
    assert sum(len(r.poses) for r in got) > 50  # people were found: the comparison means something
    assert stopped_s < STOP_S
    assert results.summary is not None
    _ended(results.summary)
