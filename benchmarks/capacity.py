"""Cameras per box: the most looping live cameras one ``streampose run`` keeps up with.

For each configuration (a named set of ``streampose run`` options: model, ``--height`` or
``--min-person-height``, ``--tiles``, ``--interval``, an INT8 model's path...) and each clip
(default ``../shared/media/vtest.mp4``; the 1080p variant is
``../shared/media/vtest_1080p_300f.mp4``), N loopback RTSP cameras play the clip in a loop
at ``--fps`` (tests/live/rtsp_server.py, the live tests' server: Debian's GStreamer, run
with /usr/bin/python3) and one ``streampose run`` reads all N, for N = ``--start``,
``--start`` + 1, ... A trial waits until every stream is online and putting frames out,
lets it run ``--warmup`` seconds more, then measures a steady window of ``--trial``
seconds from the run's own metrics (``--metrics-port``: per stream frames in, out and
dropped, and the capture-to-output latency histogram) and the CPU time of the run's
process tree (/proc). The sweep stops at the first N where a stream's lag p95 > 1 s or its
drops > 1% (``--max-lag``, ``--max-drop``; the rule: benchmarks/capacity_rule.py) or at
``--max-cameras``; the figure is the largest N that held (shown as ``N+`` when the ceiling
was reached first), with the aggregate frames out per second and the CPU seconds per camera
per second at that N.

Camera 0's person recall and precision (benchmarks/capacity_recall.py: how its live frames
are matched to the clip's frames, and when that is trusted) on the ground-truth frames of
``benchmarks/recall_gt/people.json`` that it put out **over the whole run** (start-up and
warm-up included), by benchmarks/recall.py's matching rule, are given per trial; the clip
frames are found by aligning camera 0's poses to the same configuration run on the whole
clip file (``streampose run CLIP ARGS --json``, once per configuration and clip, kept in
``--keep`` as ``reference-*.jsonl`` and reused from there). Recall is "unknown", with the
reason, for a clip without ground truth or an alignment that is not trusted.

Configurations: ``--config "NAME=ARGS"`` (repeatable; ``ARGS`` alone names itself after
the model) and/or ``--configs FILE.toml`` with ``[[config]]`` tables (``name``, ``args``: a
string or a list); without either, the two defaults below. Relative paths in them are
taken from the repository root. Every run writes JSON lines (``--json``) as the output.

    nice python benchmarks/capacity.py [--clip ../shared/media/vtest.mp4 ...]
        [--config "mnv2s=--model ../shared/models/openpose-mnv2s-coco18.onnx"] ...
        [--configs capacity.toml] [--max-cameras 8] [--warmup 10] [--trial 30] [--fps 10]
        [--json figures.json] [--keep DIR]

Prints a Markdown table (and each trial as it ends, on stderr); ``--json`` writes every
trial. Timings depend on the machine and on what else runs on it: the table's header
gives the core count and the load average at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from capacity_recall import CameraRecall, camera_recall, unknown
from capacity_rule import (
    Result,
    Scrape,
    Trial,
    configs_from_toml,
    flowing,
    judge,
    next_cameras,
    parse_config,
    parse_metrics,
    stream_window,
    table,
)
from recall import read_poses
from recall_match import parse_truth

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SERVER = ROOT / "tests" / "live" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
VTEST = SHARED / "media" / "vtest.mp4"
GROUND_TRUTH = ROOT / "benchmarks" / "recall_gt" / "people.json"
RADIUS = 0.02  # of the frame's long side: person centres this close agree (alignment)
DEFAULT_CONFIGS = (
    "mnv2s=--model ../shared/models/openpose-mnv2s-coco18.onnx",
    "yolo11n-pose-960=--model ../shared/models/yolo11n-pose.onnx --height 960",
)


class TrialError(Exception):
    """The run failed or its streams never flowed."""


# -- cameras -------------------------------------------------------------------------------


class Cameras:
    """Loopback RTSP cameras looping ``clip`` at ``fps``, started as they are needed."""

    def __init__(self, clip: Path, fps: float) -> None:
        self.clip, self.fps = clip, fps
        self.servers: list[tuple[subprocess.Popen[str], str]] = []

    def urls(self, count: int) -> list[str]:
        while len(self.servers) < count:
            self.servers.append(self._start(len(self.servers)))
        return [url for _, url in self.servers[:count]]

    def _start(self, index: int) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), "--port", "0", "--mount", f"/cam{index}", "--file",
             str(self.clip), "--fps", f"{self.fps:g}", "--watch-parent"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("READY "):
            proc.kill()
            raise SystemExit(f"capacity: the RTSP test server did not start for {self.clip} "
                             "(it needs Debian's GStreamer RTSP server: .ci/apt-live.sh)")
        return proc, line.split()[1]

    def close(self) -> None:
        for proc, _ in self.servers:
            proc.terminate()
        for proc, _ in self.servers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.servers.clear()


# -- the run's process tree ---------------------------------------------------------------------


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root`` and every process below it (/proc)."""
    parents, ticks = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry.name)
        parents[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Scrape | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return parse_metrics(r.read().decode("utf-8"))
    except OSError:
        return None


# -- one trial ----------------------------------------------------------------------------


def run_command(urls: list[str], args: str, folder: Path, port: int,
                settings: argparse.Namespace) -> list[str]:
    safety = settings.start_timeout + settings.warmup + settings.trial + 60
    return [sys.executable, "-m", "streampose", "run", *urls, *shlex.split(args),
            "--json", str(folder / "poses.jsonl"), "--summary", str(folder / "summary.json"),
            "--metrics-port", str(port), "--duration", f"{safety:g}", "--no-progress"]


def trial(urls: list[str], args: str, folder: Path, settings: argparse.Namespace) -> Trial:
    """One run over ``urls``: its steady window, judged by the stop rule."""
    port = free_port()
    with open(folder / "stderr.log", "w") as log:
        proc = subprocess.Popen(run_command(urls, args, folder, port, settings), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log, text=True)
        try:
            first, cpu0 = _steady_start(proc, port, len(urls), settings)
            time.sleep(settings.trial)
            last, cpu1 = scrape(port), tree_cpu_s(proc.pid)
            if last is None or proc.poll() is not None:
                raise TrialError("the run ended during the window")
        except TrialError as exc:
            return judge(Trial(cameras=len(urls), seconds=0.0, streams=[], cpu_s=None,
                               error=f"{exc}{_last_line(folder / 'stderr.log')}"),
                         max_lag=settings.max_lag, max_drop=settings.max_drop)
        finally:
            _stop(proc)
    streams = [stream_window(s, first, last, settings.fps) for s in range(len(urls))]
    return judge(Trial(cameras=len(urls), seconds=last.uptime - first.uptime,
                       streams=streams, cpu_s=cpu1 - cpu0),
                 max_lag=settings.max_lag, max_drop=settings.max_drop)


def _steady_start(proc: subprocess.Popen[str], port: int, streams: int,
                  settings: argparse.Namespace) -> tuple[Scrape, float]:
    """Wait until every stream flows, then ``--warmup`` s; the first read and CPU time."""
    deadline = time.monotonic() + settings.start_timeout
    while True:
        if proc.poll() is not None:
            raise TrialError(f"streampose exited {proc.returncode} before frames flowed")
        read = scrape(port)
        if read is not None and flowing(read, streams):
            break
        if time.monotonic() > deadline:
            raise TrialError(f"streams not all flowing after {settings.start_timeout:g} s")
        time.sleep(1.0)
    time.sleep(settings.warmup)
    first, cpu = scrape(port), tree_cpu_s(proc.pid)
    if first is None:
        raise TrialError("metrics unreadable after the warm-up")
    return first, cpu


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [x for x in path.read_text().splitlines() if x.strip()]
        if lines:
            return f" ({lines[-1].strip()[:200]})"
    return ""


# -- camera 0's recall --------------------------------------------------------------------


class Truth:
    """The clip's ground truth and its reference poses (run on the clip file once, at the
    first trial, and kept as ``stem-HASH.jsonl``): camera 0's recall in a trial."""

    def __init__(self, clip: Path, args: str, stem: Path) -> None:
        self.clip, self.args = clip, args
        digest = hashlib.sha1(f"{clip}\n{args}".encode()).hexdigest()[:10]
        self.path = stem.with_name(f"{stem.name}-{digest}.jsonl")
        self.problem: str | None = None

    def recall(self, poses: Path) -> CameraRecall | None:
        """Camera 0's recall from a trial's JSON lines; None without them."""
        if not poses.is_file():
            return None
        videos = json.loads(GROUND_TRUTH.read_text())["videos"]
        entry = videos.get(self.clip.name)
        if entry is None:
            return unknown(0, f"no ground truth for {self.clip.name} in {GROUND_TRUTH.name}")
        if not self.path.is_file() and self.problem is None:
            self.problem = self._run_reference()
        if self.problem is not None:
            return unknown(0, self.problem)
        return camera_recall(read_poses(poses), read_poses(self.path), parse_truth(entry),
                             radius=RADIUS * max(entry["width"], entry["height"]))

    def _run_reference(self) -> str | None:
        """``streampose run CLIP ARGS --json`` on the whole file; None, or what failed."""
        partial = self.path.with_suffix(".partial")
        command = [sys.executable, "-m", "streampose", "run", str(self.clip),
                   *shlex.split(self.args), "--json", str(partial), "--no-progress"]
        print(f"capacity: reference poses: {shlex.join(command)}", file=sys.stderr,
              flush=True)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0 or not partial.is_file():
            tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
            return f"reference run on {self.clip.name} exited {done.returncode} ({tail})"
        partial.replace(self.path)
        return None


# -- the sweep -----------------------------------------------------------------------------


def sweep(name: str, args: str, clip: Path, settings: argparse.Namespace,
          keep: Path) -> Result:
    """Cameras added one at a time until a trial does not hold (the stop rule)."""
    truth = Truth(clip, args, keep / f"reference-{_slug(name)}-{clip.stem}")
    cameras, trials = Cameras(clip, settings.fps), list[Trial]()
    try:
        while (count := next_cameras(trials, start=settings.start,
                                     max_cameras=settings.max_cameras)) is not None:
            folder = keep / f"{_slug(name)}-{clip.stem}-{count}"
            folder.mkdir(parents=True, exist_ok=True)
            trials.append(trial(cameras.urls(count), args, folder, settings))
            trials[-1].camera0_recall = truth.recall(folder / "poses.jsonl")
            _report(name, clip, trials[-1])
    finally:
        cameras.close()
    return Result(config=name, args=args, clip=clip.name, trials=trials,
                  ceiling=settings.max_cameras)


def _report(name: str, clip: Path, t: Trial) -> None:
    lag = "-" if t.lag_p95 is None else f"{t.lag_p95:.2f}"
    cpu = "-" if t.cpu_per_camera is None else f"{t.cpu_per_camera:.2f}"
    frame = "-" if t.cpu_ms_per_frame is None else f"{t.cpu_ms_per_frame:.0f}"
    recall = "-" if t.camera0_recall is None else t.camera0_recall.cell()
    print(f"capacity: {name} on {clip.name}, {t.cameras} camera(s): {t.fps:.1f} fps out, "
          f"lag p95 {lag} s, drops {100 * t.drop:.1f}%, CPU {cpu} s/camera/s, {frame} "
          f"ms/frame, camera 0 recall / precision {recall}: {t.why}",
          file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60]


def configurations(settings: argparse.Namespace) -> list[tuple[str, str]]:
    found = [parse_config(text) for text in settings.config]
    for path in settings.configs:
        import tomllib  # Python >= 3.11 (--configs only)

        with open(path, "rb") as f:
            found += configs_from_toml(tomllib.load(f))
    return found or [parse_config(text) for text in DEFAULT_CONFIGS]


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cores": len(os.sched_getaffinity(0)), "load_avg_1_5_15": [round(x, 2)
                                                                      for x in load]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, action="append", default=None,
                        help="video the cameras loop (H.264; repeatable; default vtest.mp4)")
    parser.add_argument("--config", action="append", default=[], metavar="NAME=ARGS",
                        help="a configuration: streampose run options, quoted (repeatable)")
    parser.add_argument("--configs", type=Path, action="append", default=[],
                        metavar="FILE.toml", help="[[config]] tables with name and args")
    parser.add_argument("--start", type=int, default=1, help="cameras in the first trial")
    parser.add_argument("--max-cameras", type=int, default=8, help="the sweep's ceiling")
    parser.add_argument("--fps", type=float, default=10.0, help="camera frame rate (10)")
    parser.add_argument("--warmup", type=float, default=10.0, metavar="S",
                        help="seconds after every stream flows before measuring (10)")
    parser.add_argument("--trial", type=float, default=30.0, metavar="S",
                        help="seconds measured per trial (30)")
    parser.add_argument("--start-timeout", type=float, default=120.0, metavar="S",
                        help="longest wait for every stream to flow (120)")
    parser.add_argument("--max-lag", type=float, default=1.0, metavar="S",
                        help="largest lag p95 that holds, seconds (1)")
    parser.add_argument("--max-drop", type=float, default=0.01, metavar="FRACTION",
                        help="largest share of frames lost that holds (0.01)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every trial")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each trial's poses, summary and log here")
    args = parser.parse_args(argv)
    args.clip = [c.resolve() for c in (args.clip or [VTEST])]
    if not 1 <= args.start <= args.max_cameras:
        parser.error("--start must be within 1..--max-cameras")
    return args


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(argv)
    host = machine()
    results = []
    with _folder(settings.keep) as keep:
        for name, args in configurations(settings):
            for clip in settings.clip:
                results.append(sweep(name, args, clip, settings, keep))
    print(f"{host['cores']} cores, load average {host['load_avg_1_5_15']} at the start; "
          f"cameras at {settings.fps:g} fps, windows of {settings.trial:g} s after "
          f"{settings.warmup:g} s of warm-up; holds: lag p95 <= {settings.max_lag:g} s, "
          f"drops <= {100 * settings.max_drop:g}%\n")
    print(table(results))
    if settings.json is not None:
        figures = {"machine": host, "settings": _settings(settings),
                   "results": [r.to_json() for r in results]}
        settings.json.write_text(json.dumps(figures, indent=2) + "\n")


def _settings(settings: argparse.Namespace) -> dict[str, Any]:
    names = ("fps", "warmup", "trial", "max_lag", "max_drop", "start", "max_cameras")
    return {name: getattr(settings, name) for name in names} | {
        "clips": [str(c) for c in settings.clip]}


@contextlib.contextmanager
def _folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        yield Path(tmp)


if __name__ == "__main__":
    main()
