"""Signals and kills, as a user, a service manager or the kernel sends them.

Each case runs ``streampose run`` on a file or a live RTSP camera in its own session
(process group), waits until frames come out (or, for one pattern, until the stages are
still starting), then applies one pattern: SIGTERM/SIGINT to the parent or to the whole
group (what ``systemctl stop``, ``docker stop`` and ``kill -- -PGID`` do), two SIGTERMs,
or a SIGKILL of the group, of the parent alone or of one stage. Then it checks the exit
code,
that the recording plays and holds exactly the frames of the JSON lines (for a SIGKILL:
a prefix of them, up to the last fragment), that the summary is there for the orderly
ends, that nothing warns of leaked resources, and that nothing of the run is left in
/dev/shm (segments *and* semaphores) after the next start.

Every wait is on an event (lines in a file, a log line, processes gone) with a generous
deadline, so a loaded machine is slower but not wrong. The fake backend keeps the model
out of it; ``delay_ms`` keeps a file run going long enough to be interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streampose.transport.shm import sweep_stale_segments
from tests.live import camera as live
from tests.support.models import MODEL_NAME
from tests.support.shm import SHM
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # each case starts a whole pipeline

WAIT_S = 90.0  # deadline for each awaited event (a loaded machine is slow, not wrong)
LINES = 30  # JSON lines to wait for before the signal: 3 s of 10 fps video, 2+ fragments

make_camera = live.make_camera  # a fixture: started RTSP cameras, stopped after the test


# -- the table ------------------------------------------------------------------------

ORDERLY, FORCED, KILLED = "orderly", "forced", "killed"


@dataclass(frozen=True)
class Pattern:
    """How the run is ended: ``signals`` sent in order to ``target`` ("parent", "group"
    or a stage name), and what must come of it."""

    name: str
    target: str
    signals: tuple[signal.Signals, ...]
    exit_code: int
    end: str  # ORDERLY (drain), FORCED (second signal: stop now), KILLED (SIGKILL)
    extra: tuple[str, ...] = ()
    lines: int = LINES  # JSON lines written before the first signal; 0: as stages start


TERM, INT, KILL = signal.SIGTERM, signal.SIGINT, signal.SIGKILL
# A model that takes 3 s a frame: the frames in flight would need far longer than the
# time between the two signals to drain, and the drain timeout is out of reach.
_SLOW = ("--backend-option", "delay_ms=3000")

PATTERNS = [
    Pattern("term-parent", "parent", (TERM,), 143, ORDERLY),
    Pattern("int-parent", "parent", (INT,), 130, ORDERLY),
    Pattern("term-group", "group", (TERM,), 143, ORDERLY),
    Pattern("int-group", "group", (INT,), 130, ORDERLY),
    Pattern("term-group-at-start", "group", (TERM,), 143, ORDERLY, lines=0),
    Pattern("double-term-group", "group", (TERM, TERM), 143, FORCED, _SLOW, lines=1),
    Pattern("kill-group", "group", (KILL,), -9, KILLED),
    Pattern("kill-parent", "parent", (KILL,), -9, KILLED),
    Pattern("kill-stage", "infer", (KILL,), 6, KILLED),
]
SOURCES = ["file", "live"]
STAGES = ["decode0", "preprocess", "infer", "postprocess0", "render"]  # spawned in order


# -- the run --------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a run left behind (``observe``); ``check`` compares it with the pattern."""

    exit_code: int | None = None
    json_pts: list[float] = field(default_factory=list)
    mp4_pts: list[float] | None = None  # None: the recording does not open
    mp4_error: str = ""
    opencv_frames: int | None = None
    summary: dict | None = None
    during: set[str] = field(default_factory=set)  # the run's /dev/shm entries, running
    shm_after_exit: list[str] = field(default_factory=list)  # ... those left after it
    shm_after_next_start: list[str] = field(default_factory=list)
    stderr: str = ""


class Run:
    """``streampose run`` in a new session on ``source`` (its pid is its group id)."""

    def __init__(self, tmp: Path, source: str, extra: tuple[str, ...]) -> None:
        self.tmp = tmp
        self.mp4, self.jsonl = tmp / "o.mp4", tmp / "o.jsonl"
        self.summary, self.log = tmp / "s.json", tmp / "stderr.txt"
        config = tmp / "p.toml"  # the drain timeout has no flag; 600 s: out of reach
        config.write_text("[performance]\ndrain_timeout_s = 600\n")
        args = [sys.executable, "-m", "streampose", "run", source, "--model", str(MODEL_NAME),
                "--backend", "fake", "-o", str(self.mp4), "--json", str(self.jsonl),
                "--summary", str(self.summary), "--config", str(config), "--no-progress",
                "--log-level", "INFO", "--stall-timeout", "30",
                "--infer-workers", "1", *extra]  # the stage names of STAGES on any machine
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True)
        self.pid = self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def json_pts(self) -> list[float]:
        """The pts (seconds) of the complete JSON lines written so far."""
        if not self.jsonl.exists():
            return []
        lines = self.jsonl.read_text().splitlines(keepends=True)
        return [json.loads(line)["pts"] for line in lines if line.endswith("\n")]

    def await_lines(self, count: int) -> None:
        def enough() -> bool:
            assert self.proc.poll() is None, f"the run ended early:\n{self.text()}"
            return len(self.json_pts()) >= count
        wait_until(enough, timeout=WAIT_S, what=f"{count} JSON lines")

    def await_log(self, text: str) -> None:
        wait_until(lambda: text in self.text(), timeout=WAIT_S, what=f"{text!r} in the log")

    def stage_pid(self, stage: str) -> int:
        match = re.search(rf"stage {stage} started, pid (\d+)", self.text())
        assert match is not None, self.text()
        return int(match.group(1))

    def send(self, target: str, sig: signal.Signals) -> None:
        if target == "group":
            os.killpg(self.pid, sig)
        elif target == "parent":
            os.kill(self.pid, sig)
        else:
            os.kill(self.stage_pid(target), sig)

    def wait(self) -> int:
        return self.proc.wait(timeout=WAIT_S)

    def kill(self) -> None:
        """A run still going when the test fails is killed with its whole group (a stage
        left behind ends on its own once its parent is gone)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT_S)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (stages, the resource tracker), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def ours(pid: int) -> list[str]:
    """/dev/shm entries named after the run whose parent is ``pid``: segments and
    semaphores."""
    prefixes = (f"sp-{pid}-", f"sem.sp-{pid}-")
    return sorted(n for n in os.listdir(SHM) if n.startswith(prefixes))


def mapped(pids: set[int]) -> set[str]:
    """/dev/shm entries that the processes ``pids`` have mapped, whatever their names (a
    POSIX semaphore is a mapped ``/dev/shm/sem.NAME``; most segments are mapped too)."""
    names: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
                path = line.split(maxsplit=5)[5:]
                if path and path[0].startswith(f"{SHM}/") and "(deleted)" not in path[0]:
                    names.add(path[0][len(f"{SHM}/"):])
    return names


def left(names: set[str]) -> list[str]:
    """Which of ``names`` still exist in /dev/shm."""
    return sorted(n for n in names if (SHM / n).exists())


# -- what a run leaves ----------------------------------------------------------------

def read_recording(path: Path, outcome: Outcome) -> None:
    """The recording's frame times by PyAV, its frame count by OpenCV (and ffprobe when
    installed): a file that any of them cannot read fails the case."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            outcome.mp4_pts = [float(f.pts * f.time_base) for f in container.decode(stream)]
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        outcome.mp4_error = f"{type(exc).__name__}: {exc}"
        return
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.isOpened() and capture.grab():
        frames += 1
    capture.release()
    outcome.opencv_frames = frames
    ffprobe = shutil.which("ffprobe")
    if ffprobe is not None:
        probe = subprocess.run([ffprobe, "-v", "error", "-count_packets", "-select_streams",
                                "v:0", "-show_entries", "stream=nb_read_packets", "-of",
                                "csv=p=0", str(path)], capture_output=True, text=True,
                               timeout=WAIT_S)
        if probe.returncode != 0 or int(probe.stdout.strip() or -1) != len(outcome.mp4_pts):
            outcome.mp4_error = f"ffprobe: {probe.stdout.strip()} {probe.stderr.strip()}"


def observe(pattern: Pattern, tmp: Path, source: str) -> Outcome:
    """Run, apply ``pattern`` once frames flow, and collect what the run left behind."""
    run = Run(tmp, source, pattern.extra)
    outcome = Outcome()
    try:
        if pattern.lines:
            run.await_lines(pattern.lines)
        else:  # the last stage is spawned: stages are still starting (importing)
            run.await_log(f"stage {STAGES[-1]} started")
        family = descendants(run.pid) | {run.pid}
        outcome.during = set(ours(run.pid)) | mapped(family)
        run.send(pattern.target, pattern.signals[0])
        for sig in pattern.signals[1:]:
            run.await_log("interrupted")  # the first one was handled: now the second
            run.send(pattern.target, sig)
        outcome.exit_code = run.wait()
        # A killed parent leaves its stages and resource tracker to end on their own.
        wait_until(lambda: all(map(gone, family)), timeout=WAIT_S,
                   what="every process of the run to end")
    finally:
        run.kill()
    outcome.stderr = run.text()
    outcome.json_pts = run.json_pts()
    read_recording(run.mp4, outcome)
    if run.summary.exists():
        outcome.summary = json.loads(run.summary.read_text())
    outcome.shm_after_exit = left(outcome.during | set(ours(run.pid)))
    sweep_stale_segments()  # what the next start does first
    outcome.shm_after_next_start = left(outcome.during | set(ours(run.pid)))
    return outcome


def check(pattern: Pattern, outcome: Outcome) -> None:
    log = outcome.stderr
    assert outcome.exit_code == pattern.exit_code, log
    assert "leaked" not in log and "resource_tracker" not in log, log
    # Positive control: the run's segments and semaphores carry its prefix.
    assert any(n.startswith("sp-") for n in outcome.during), outcome.during
    assert any(n.startswith("sem.") for n in outcome.during), outcome.during
    assert outcome.shm_after_next_start == []
    assert outcome.mp4_pts is not None, f"the recording does not open: {outcome.mp4_error}"
    assert outcome.mp4_error == ""
    assert outcome.opencv_frames == len(outcome.mp4_pts)
    mp4, jsonl = outcome.mp4_pts, outcome.json_pts
    if pattern.end == KILLED and pattern.target == "group":
        # Playable up to the last complete fragment: a prefix of what was rendered.
        assert len(mp4) >= 1 and len(jsonl) >= LINES
        assert _same_times(mp4, jsonl[:len(mp4)])
        return
    assert _same_times(mp4, jsonl), (len(mp4), len(jsonl))
    assert outcome.shm_after_exit == []  # the run (or its orphans) cleaned up itself
    if pattern.end == KILLED:
        return
    summary = outcome.summary
    assert summary is not None, log
    stream = summary["streams"][0]
    assert stream["frames_out"] == len(jsonl) >= min(pattern.lines, 1)
    stages = [s["stage"] for s in summary["stages"]]  # every stage reported, and printed
    assert sorted(stages) == sorted(STAGES), stages
    busy = re.findall(r"busy: (.*)", log)
    assert busy and all(re.search(rf"\b{s} \d+%", busy[-1]) for s in STAGES), log
    if pattern.end == ORDERLY:  # the frames in flight drained
        assert stream["frames_in"] == stream["frames_out"] + stream["dropped"]
    if pattern.end == FORCED:
        assert stream["frames_in"] > stream["frames_out"]  # ... or were given up


def _same_times(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=1e-3)
                                    for x, y in zip(a, b, strict=True))


# -- sources --------------------------------------------------------------------------

def make_clip(path: Path, frames: int = 400, size: tuple[int, int] = (128, 96)) -> Path:
    """An H.264 clip at 10 fps with a bright square moving round (people for the fake)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), 20, np.uint8)
            x = 8 + (4 * i) % (size[0] - 24)
            image[20:36, x:x + 16] = 250
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture
def source(request: pytest.FixtureRequest, clip: Path) -> Iterator[str]:
    """The file clip (40 fps at most with the 25 ms fake model: 10 s or more), or a live
    RTSP camera looping vtest.mp4 at 10 fps."""
    if request.param == "file":
        yield str(clip)
        return
    make: Callable[..., live.RtspCamera] = request.getfixturevalue("make_camera")
    url = make().url
    wait_until(lambda: serving(url), timeout=WAIT_S, what=f"{url} to serve sized video")
    yield url


def serving(url: str) -> bool:
    """The camera serves video whose frame size a client learns (a camera that has just
    started may not tell it yet: a run started then could refuse it)."""
    try:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
            return container.streams.video[0].codec_context.width > 0
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def _cases() -> list[object]:
    cases: list[object] = []
    for kind in SOURCES:
        marks = [pytest.mark.live] if kind == "live" else []
        for p in PATTERNS:
            cases.append(pytest.param(p, kind, id=f"{p.name}-{kind}", marks=marks))
    return cases


@pytest.mark.parametrize(("pattern", "source"), _cases(), indirect=["source"])
def test_signal_pattern(pattern: Pattern, source: str, tmp_path: Path) -> None:
    extra = pattern.extra
    if not source.startswith("rtsp://") and not extra:
        extra = ("--backend-option", "delay_ms=25")  # keeps the file run going
    pattern = dataclasses.replace(pattern, extra=extra)
    check(pattern, observe(pattern, tmp_path, source))
