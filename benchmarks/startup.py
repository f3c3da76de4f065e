"""Time to first output: ``streampose run`` from launch to its first JSON line.

Runs the command line as a user does (a fresh interpreter each time) on a file with the
shared model, writing JSON lines, and reports per run: the time to the first complete
line of the JSON file, the time to exit, and the CPU time of the whole run (every
process: with few frames, that is the start-up's cost). ``--checkout DIR`` (repeatable) compares
checkouts of the project side by side, runs interleaved, so that a shared machine's load
falls on all of them alike; ratios are against the first checkout.

    python benchmarks/startup.py [--runs 5] [--checkout ../main --checkout .] [--script]
                                 [--source rtsp://... | --camera fresh|streaming]

``--script`` launches through a script like the installed ``streampose`` command (whose
module spawned stage processes re-import) instead of ``python -m streampose``.

``--camera`` starts a loopback RTSP test camera (``tests/live/rtsp_server.py``, Debian's
GStreamer, 10 fps) and times runs on it: ``fresh``, the camera's stream starts for our
connection (as a camera that opens each session on a keyframe); ``streaming``, another
client keeps it streaming the whole time, so each run joins mid-stream and must wait for
the next keyframe, as with a camera already watched. That camera loops ``vtest.mp4``
re-encoded with one keyframe a second (the usual camera setting; the file itself has one
every 6.4 s), so a run waits 0.5 s on average for it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media/vtest.mp4"
MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"
DEADLINE_S = 120.0
SERVER = ROOT / "tests/live/rtsp_server.py"
CAMERA_FPS = 10
KEEP: set[int] = set()  # children that outlive runs (the test camera)
SCRIPT = "import sys\nfrom streampose.cli import main\nif __name__ == '__main__':\n" \
         "    sys.exit(main())\n"


def first_line_s(checkout: Path, source: str, frames: int, out: Path,
                 script: Path | None = None) -> tuple[float, float, float]:
    """(seconds to the first JSON line, seconds to exit, CPU seconds) of one run."""
    out.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    launcher = [str(script)] if script is not None else ["-m", "streampose"]
    cmd = [sys.executable, *launcher, "run", source, "--model", str(MODEL),
           "--json", str(out), "--max-frames", str(frames), "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=checkout, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    first = None
    while proc.poll() is None and time.perf_counter() - start < DEADLINE_S:
        if first is None and out.exists() and b"\n" in out.read_bytes():
            first = time.perf_counter() - start
        time.sleep(0.005)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    total = time.perf_counter() - start
    _reap_orphans()  # the stages' fork server, and its CPU with its stages'
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{checkout}: streampose exited {proc.returncode}: {err.strip()}")
    if first is None:
        first = total if out.exists() and out.read_bytes() else float("nan")
    return first, total, cpu


def _subreaper() -> None:
    """Adopt this process's orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``): the
    stages' fork server outlives the streampose process that started it, and its CPU
    (with its stages') counts in RUSAGE_CHILDREN only once this process reaps it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER) failed: CPU figures would be short")


def _reap_orphans(deadline_s: float = 30.0) -> None:
    """Wait for every adopted descendant of the run to exit and reap it (each run's fork
    server ends soon after the run's parent); long-lived children (the test camera) stay."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] != 0:
                pass
        if not _children() - KEEP:
            return
        time.sleep(0.005)
    raise SystemExit("a descendant of the run did not exit within 30 s")


def _children() -> set[int]:
    """The pids whose parent is this process."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                    found.add(int(entry))
    return found


def one_second_gop(src: Path, dst: Path, seconds: float = 30.0) -> Path:
    """``src``'s first ``seconds`` as H.264 at CAMERA_FPS with a keyframe every second."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=CAMERA_FPS)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        enc.options = {"g": str(CAMERA_FPS), "keyint_min": str(CAMERA_FPS), "bf": "0",
                       "preset": "veryfast"}
        for i, frame in enumerate(inp.decode(stream)):
            if i >= seconds * CAMERA_FPS:
                break
            frame.pts = None
            out.mux(enc.encode(frame.reformat(format="yuv420p")))
        out.mux(enc.encode())
    return dst


@contextlib.contextmanager
def camera(file: Path, watched: bool) -> Iterator[str]:
    """A loopback RTSP camera looping ``file``; ``watched``: another client keeps it
    streaming meanwhile. Yields its URL."""
    proc = subprocess.Popen(["/usr/bin/python3", str(SERVER), "--port", "0", "--file",
                             str(file), "--fps", str(CAMERA_FPS), "--watch-parent"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stop = threading.Event()
    KEEP.add(proc.pid)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("READY "):
            raise SystemExit(f"the RTSP test camera did not start: {line!r} (needs "
                             "Debian's GStreamer RTSP server: bash .ci/apt.sh)")
        url = line.split()[1]
        if watched:
            threading.Thread(target=_watch, args=(url, stop), daemon=True).start()
            time.sleep(2.0)  # streaming well before the first run
        yield url
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)


def _watch(url: str, stop: threading.Event) -> None:
    """Another viewer: read the camera's packets until ``stop``."""
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as container:
        for _ in container.demux(container.streams.video[0]):
            if stop.is_set():
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=10, help="frames per run")
    parser.add_argument("--checkout", type=Path, action="append",
                        help="a project checkout to run (repeatable; default: this one)")
    parser.add_argument("--source", default=str(VIDEO), help="a file or a camera URL")
    parser.add_argument("--camera", choices=("fresh", "streaming"),
                        help="start a loopback RTSP test camera and time runs on it")
    parser.add_argument("--script", action="store_true",
                        help="launch as the installed `streampose` command does")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    _subreaper()
    results: dict[Path, list[tuple[float, float, float]]] = {c: [] for c in checkouts}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.camera is not None:
            clip = one_second_gop(VIDEO, Path(tmp) / "camera.mp4")
            args.source = stack.enter_context(camera(clip, args.camera == "streaming"))
        script = Path(tmp) / "streampose_cmd.py" if args.script else None
        if script is not None:
            script.write_text(SCRIPT)
        for run in range(args.runs):
            for checkout in checkouts:
                got = first_line_s(checkout, args.source, args.frames, Path(tmp) / "out.jsonl",
                                   script)
                results[checkout].append(got)
                print(f"run {run}: {checkout}: first line {got[0]:.2f} s, exit {got[1]:.2f} s, "
                      f"CPU {got[2]:.2f} s", flush=True)
    base = statistics.median(r[0] for r in results[checkouts[0]])
    base_cpu = statistics.median(r[2] for r in results[checkouts[0]])
    what = f"camera ({args.camera}) {args.source}" if args.camera else f"source {args.source}"
    print(f"cores {len(os.sched_getaffinity(0))}, {what}, {args.runs} runs each")
    for checkout, runs in results.items():
        med = statistics.median(r[0] for r in runs)
        exit_med = statistics.median(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        print(f"{checkout}: median first line {med:.2f} s ({med / base:.2f}x the first), "
              f"median exit {exit_med:.2f} s, median CPU {cpu:.2f} s "
              f"({cpu / base_cpu:.2f}x the first)")


if __name__ == "__main__":
    main()
