"""Long-run proof: N looping RTSP cameras through one ``streampose run`` for a long time,
with the console, MQTT and events on, a camera restart and a broker restart at intervals,
every process of the run sampled.

Starts N RTSP test cameras (tests/live/rtsp_server.py, Debian's GStreamer, ``vtest.mp4``
looping at 10 fps), a mosquitto broker on a free loopback port, and ``streampose run`` on
all cameras with ``--serve`` (the console), ``--mqtt``, ``--events`` with a ``--line``
rule, JSON lines, a recording per camera and a summary, for ``--minutes``. Every
``--camera-restart-every`` minutes one camera (in turn) is stopped for ``--camera-down``
seconds and started again on its port; every ``--broker-restart-every`` minutes the
broker is stopped for ``--broker-down`` seconds. Every ``--sample-every`` seconds it
records, for each process of the run's tree (the parent, the resource tracker, the fork
server and the stage processes, found by walking /proc), RSS and PSS
(/proc/PID/smaps_rollup), open fds and threads; the run's /dev/shm entries; and each
camera's state, lag p95 and drops from the console's /api/status.

At the end it prints per process the RSS and PSS slopes per hour (least squares over the
samples from ``--warmup`` minutes to the run's planned end, so the shutdown is left out)
and the fd and thread ranges, the whole tree's RSS, PSS, fds, threads and /dev/shm
entries, and per camera the frame accounting: decoded = written + dropped (+ lost), JSON
lines and recorded frames against frames written, MQTT pose messages received (+ dropped
by the run) against frames written, and the seconds of stream that never arrived against
the seconds the camera was down. ``--json`` writes it all, with the raw samples. The
samples are appended to ``--out``/samples.jsonl as they are taken; ``--report-only OUT``
prints the report of such a folder again (e.g. with another ``--warmup``). Linux only;
needs the RTSP test server (.ci/apt.sh live) and mosquitto (.ci/apt.sh mqtt).

    python benchmarks/soak.py --minutes 120 [--cameras 2] [--camera-restart-every 15]
        [--broker-restart-every 30] [--sample-every 10] [--warmup 5] [--out DIR]
        [--json soak.json]
    python benchmarks/soak.py --report-only DIR [--warmup 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import soak_report as rep  # noqa: E402  (benchmarks/ is a script folder, not a package)
from soak_probe import sample_tree, shm_entries  # noqa: E402

SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "openpose-mnv2s-coco18.onnx"
VIDEO = SHARED / "media" / "vtest.mp4"
LINE = "walkway:200,240,200,110"  # across the path of vtest.mp4 (480x360)
PREFIX = "soak"
SAMPLES = "samples.jsonl"  # in --out: one sample per line, written as taken
RUN_END = "run_end.json"  # in --out: settings, faults done, wall time, exit code, MQTT counts
QUIET_END_S = 60.0  # no fault starts this close to the end: the last counts are settled


# -- the world: cameras, broker, MQTT subscriber ---------------------------------------


def check_tools() -> None:
    """Exit with one line when the RTSP test server or mosquitto cannot run here."""
    from tests.live.camera import rtsp_available

    reason = rtsp_available()
    if reason is not None:
        raise SystemExit(f"soak: {reason}")
    if not (shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")):
        raise SystemExit("soak: needs Debian's mosquitto broker (bash .ci/apt.sh mqtt)")


@contextlib.contextmanager
def cameras(count: int, video: Path, fps: int) -> Iterator[list[Any]]:
    """``count`` started RTSP test cameras (mounts /cam0, /cam1, ...), closed at the end."""
    from tests.live.camera import RtspCamera

    cams = [RtspCamera(file=video, mount=f"/cam{i}", fps=fps) for i in range(count)]
    try:
        for cam in cams:
            cam.start()
        yield cams
    finally:
        for cam in cams:
            cam.close()


@contextlib.contextmanager
def broker(folder: Path) -> Iterator[Any]:
    """A mosquitto on a free loopback port (tests/broker.py), stopped at the end."""
    from tests.broker import Mosquitto

    mosquitto = Mosquitto(folder).start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


class TopicCounter:
    """A paho subscriber to ``<prefix>/#`` counting messages per topic; it reconnects by
    itself after a broker restart (messages published while it is away are missed)."""

    def __init__(self, port: int, prefix: str) -> None:
        import paho.mqtt.client as mqtt

        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, *a: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.counts[msg.topic] += 1

    def count(self, topic: str) -> int:
        with self._lock:
            return self.counts[topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- faults ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One planned outage: ``kind`` camera or broker, ``target`` the camera index."""

    at_s: float
    kind: str
    target: int = 0


def plan_faults(*, run_s: float, cameras: int, camera_every_s: float | None,
                broker_every_s: float | None, quiet_end_s: float = QUIET_END_S) -> list[Fault]:
    """Camera restarts every ``camera_every_s`` (cameras in turn) and broker restarts every
    ``broker_every_s``, none in the run's last ``quiet_end_s`` (or last quarter, if
    shorter), in time order."""
    quiet_end_s = min(quiet_end_s, run_s / 4)
    faults: list[Fault] = []
    for kind, every in (("camera", camera_every_s), ("broker", broker_every_s)):
        if not every:
            continue
        n = 1
        while n * every < run_s - quiet_end_s:
            target = (n - 1) % cameras if kind == "camera" else 0
            faults.append(Fault(at_s=n * every, kind=kind, target=target))
            n += 1
    return sorted(faults, key=lambda f: (f.at_s, f.kind))


class Injector(threading.Thread):
    """Runs the planned faults against the cameras and the broker; records each outage
    (start and end seconds from ``t0``)."""

    def __init__(self, *, plan: list[Fault], cams: list[Any], mosquitto: Any, t0: float,
                 camera_down_s: float, broker_down_s: float) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.plan, self.cams, self.mosquitto, self.t0 = plan, cams, mosquitto, t0
        self.down = {"camera": camera_down_s, "broker": broker_down_s}
        self.done: list[dict[str, Any]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        for fault in self.plan:
            if self.stopping.wait(max(0.0, self.t0 + fault.at_s - time.monotonic())):
                return
            start = time.monotonic() - self.t0
            record = {"kind": fault.kind, "target": fault.target, "down_at_s": round(start, 1)}
            try:
                self._outage(fault)
            except BaseException as exc:  # the test helpers fail with pytest's BaseException
                record["error"] = f"{type(exc).__name__}: {exc}"
            self.done.append({**record, "up_at_s": round(time.monotonic() - self.t0, 1)})

    def _outage(self, fault: Fault) -> None:
        if fault.kind == "camera":
            cam = self.cams[fault.target]
            cam.stop()
            time.sleep(self.down["camera"])
            cam.start()
        else:
            self.mosquitto.stop()
            time.sleep(self.down["broker"])
            self.mosquitto.start()


# -- the run and its samples -----------------------------------------------------------


def run_command(args: argparse.Namespace, urls: list[str], mqtt_url: str, port: int,
                out: Path) -> list[str]:
    """The ``streampose run`` command line of the soak."""
    return [sys.executable, "-m", "streampose", "run", *urls, "--model", str(args.model),
            "--serve", f"127.0.0.1:{port}", "--mqtt", mqtt_url,
            "--events", str(out / "events.jsonl"), "--line", args.line,
            "--json", str(out / "poses.jsonl"), "-o", str(out / "cam_{stream}.mp4"),
            "--summary", str(out / "summary.json"), "--duration", f"{args.minutes * 60:g}",
            "--no-progress", *args.run_arg]


def console_status(port: int) -> list[dict[str, Any]]:
    """Each stream's state, lag p95 and counters from /api/status ([] when unreachable)."""
    keys = ("stream", "camera", "state", "frames_in", "frames_out", "dropped", "reconnects",
            "mqtt_dropped")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
            streams = json.load(r)["streams"]
    except (OSError, ValueError, KeyError):
        return []
    return [{**{k: s.get(k) for k in keys}, "lag_p95": s.get("latency_p95")} for s in streams]


def take_sample(t: float, run_pid: int, port: int) -> dict[str, Any]:
    return {"t": round(t, 2), "processes": [asdict(p) for p in sample_tree(run_pid)],
            "shm": len(shm_entries(run_pid)), "streams": console_status(port)}


def sample_until_exit(proc: subprocess.Popen[bytes], t0: float, port: int,
                      every_s: float, into: Path) -> None:
    """A sample every ``every_s`` until the run exits, each a line written to ``into`` as
    it is taken (kept even if the soak itself fails later; the last may be partial)."""
    next_at = t0
    with into.open("w") as lines:
        while proc.poll() is None:
            lines.write(json.dumps(take_sample(time.monotonic() - t0, proc.pid, port)) + "\n")
            lines.flush()
            next_at += every_s
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, next_at - time.monotonic()))


# -- the outputs, counted --------------------------------------------------------------


def json_lines_per_stream(path: Path) -> Counter[int]:
    counts: Counter[int] = Counter()
    if path.is_file():
        with path.open() as lines:
            for line in lines:
                counts[json.loads(line)["stream"]] += 1
    return counts


def recorded_frames(out: Path, stream: int) -> int | None:
    """Video packets in the camera's recording(s) (None without any)."""
    import av

    files = sorted(out.glob(f"cam_{stream}*.mp4"))
    if not files:
        return None
    total = 0
    for file in files:
        with av.open(str(file)) as container:
            total += sum(1 for p in container.demux(video=0) if p.size)
    return total


def outage_seconds(faults: list[dict[str, Any]], stream: int) -> float:
    """How long camera ``stream`` was down (stopped to started again), all restarts."""
    return float(sum(f["up_at_s"] - f["down_at_s"] for f in faults
                     if f["kind"] == "camera" and f["target"] == stream))


def read_soak(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The samples, the end state and the run's summary ({} if none) left in ``out``."""
    samples = [json.loads(x) for x in (out / SAMPLES).read_text().splitlines() if x.strip()]
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return samples, json.loads((out / RUN_END).read_text()), summary


def frame_counts(out: Path, summary: dict[str, Any],
                 mqtt: dict[str, int]) -> list[rep.FrameCount]:
    """Each camera's frames as the summary, the JSON lines, the recording and the MQTT
    subscriber count them."""
    lines = json_lines_per_stream(out / "poses.jsonl")
    return [rep.frame_count(s, json_lines=lines[s["stream"]],
                            recorded=recorded_frames(out, s["stream"]),
                            mqtt_poses=mqtt.get(f"{PREFIX}/{s['camera']}/poses", 0))
            for s in summary.get("streams", [])]


def build_report(args: argparse.Namespace, out: Path) -> tuple[rep.Report, list[dict]]:
    """The report (and the samples) from what a soak left in ``out``; the warm-up is
    ``args.warmup``, everything else the soak's own settings."""
    samples, end, summary = read_soak(out)
    settings = {**end["settings"], "warmup": args.warmup}
    warm = rep.in_window(samples, args.warmup * 60, settings["minutes"] * 60)
    stage_pids = {s["pid"]: s["stage"] for s in summary.get("stages", []) if s.get("pid")}
    frames = frame_counts(out, summary, end["mqtt"])
    ids, faults, wall_s = [f.stream for f in frames], end["faults"], end["wall_s"]
    report = rep.Report(
        settings=settings, faults=faults,
        processes=rep.all_process_figures(warm, stage_pids), tree=rep.tree_figures(warm),
        tree_whole_run=rep.tree_figures(samples), frames=frames,
        lag={i: rep.stream_lag(warm, i) for i in ids},
        outage_s={i: outage_seconds(faults, i) for i in ids},
        input_gap_s={f.stream: rep.input_gap_s(f.frames_in, settings["fps"], wall_s)
                     for f in frames},
        wall_s=wall_s, exit_code=end["exit_code"],
        notes=notes(out, samples, warm, summary, end["mqtt"]))
    return report, samples


def notes(out: Path, samples: list[dict[str, Any]], warm: list[dict[str, Any]],
          summary: dict[str, Any], mqtt: dict[str, int]) -> list[str]:
    """One line each: the run's log, the samples, the events, the MQTT messages."""
    log = out / "run.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    events = out / "events.jsonl"
    by_kind: Counter[str] = Counter()
    for topic, n in mqtt.items():
        by_kind[topic.rsplit("/", 1)[-1]] += n
    found = [f"run log: {len(lines)} lines ({sum('WARNING' in x for x in lines)} warnings, "
             f"{sum('ERROR' in x for x in lines)} errors); {len(samples)} samples, "
             f"{len(warm)} in the measured window",
             f"events: {len(events.read_text().splitlines()) if events.is_file() else 0} "
             f"in events.jsonl, {sum(s.get('events', 0) for s in summary.get('streams', []))}"
             " counted in the summary",
             "MQTT received: " + (", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
                                  or "nothing")]
    if not warm:
        found.append("no sample after the warm-up: slopes need a longer --minutes")
    return found


# -- main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--minutes", type=float, default=120.0, help="run length")
    p.add_argument("--camera-restart-every", type=float, default=15.0, metavar="MIN",
                   help="minutes between camera restarts (0: none)")
    p.add_argument("--camera-down", type=float, default=5.0, metavar="S")
    p.add_argument("--broker-restart-every", type=float, default=30.0, metavar="MIN",
                   help="minutes between broker restarts (0: none)")
    p.add_argument("--broker-down", type=float, default=5.0, metavar="S")
    p.add_argument("--sample-every", type=float, default=10.0, metavar="S")
    p.add_argument("--warmup", type=float, default=5.0, metavar="MIN",
                   help="minutes left out of the slopes and ranges")
    p.add_argument("--model", type=Path, default=MODEL)
    p.add_argument("--video", type=Path, default=VIDEO, help="what each camera loops")
    p.add_argument("--fps", type=int, default=10, help="each camera's frame rate")
    p.add_argument("--line", default=LINE, help="the --line event rule")
    p.add_argument("--run-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for streampose run (repeatable)")
    p.add_argument("--out", type=Path, help="keep the run's outputs here (default: a "
                   "temporary folder, removed)")
    p.add_argument("--json", type=Path, help="write the report and the samples here")
    p.add_argument("--report-only", type=Path, metavar="OUT",
                   help="print the report of an earlier soak's --out folder (no run; give "
                   "the same --warmup and --fps)")
    return p.parse_args(argv)


def start_run(args: argparse.Namespace, cams: list[Any], mosquitto: Any, port: int,
              out: Path) -> subprocess.Popen[bytes]:
    """``streampose run`` on the cameras, logging to ``out``/run.log (this checkout's
    package, whatever the virtualenv has installed)."""
    cmd = run_command(args, [c.url for c in cams], mosquitto.url(prefix=PREFIX), port, out)
    with (out / "run.log").open("wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})


def finish(proc: subprocess.Popen[bytes], injector: Injector) -> None:
    """Stop the faults; interrupt the run if it is still going (the soak itself failed)."""
    injector.stopping.set()
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    injector.join(timeout=120)


def soak(args: argparse.Namespace, out: Path) -> None:
    """Run the soak; its samples, faults and end state are left in ``out``."""
    from tests.live.camera import free_port

    with cameras(args.cameras, args.video, args.fps) as cams, \
            broker(out / "broker") as mosquitto:
        port = free_port()
        counter = TopicCounter(mosquitto.port, PREFIX)
        proc = start_run(args, cams, mosquitto, port, out)
        t0 = time.monotonic()
        plan = plan_faults(run_s=args.minutes * 60, cameras=args.cameras,
                           camera_every_s=args.camera_restart_every * 60,
                           broker_every_s=args.broker_restart_every * 60)
        injector = Injector(plan=plan, cams=cams, mosquitto=mosquitto, t0=t0,
                            camera_down_s=args.camera_down, broker_down_s=args.broker_down)
        injector.start()
        try:
            sample_until_exit(proc, t0, port, args.sample_every, out / SAMPLES)
        finally:
            finish(proc, injector)
        wall_s = time.monotonic() - t0
        time.sleep(2.0)  # the subscriber's last messages
        counter.close()
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (out / RUN_END).write_text(json.dumps({
        "settings": settings, "faults": injector.done, "wall_s": wall_s,
        "exit_code": proc.returncode, "mqtt": dict(counter.counts)}, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.report_only is not None:
            out = args.report_only
        else:
            check_tools()
            out = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="soak-")))
            out.mkdir(parents=True, exist_ok=True)
            soak(args, out)
        report, samples = build_report(args, out)
    print(rep.format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps({**report.to_json(), "samples": samples}, indent=1))
    return 0 if report.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
