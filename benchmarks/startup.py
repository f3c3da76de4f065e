"""Time to first output: ``streampose run`` from launch to its first JSON line.

Runs the command line as a user does (a fresh interpreter each time) on a file with the
shared model, writing JSON lines, and reports per run: the time to the first complete
line of the JSON file, the time to exit, and the CPU time of the whole run (every
process: with few frames, that is the start-up's cost). ``--checkout DIR`` (repeatable) compares
checkouts of the project side by side, runs interleaved, so that a shared machine's load
falls on all of them alike; ratios are against the first checkout.

    python benchmarks/startup.py [--runs 5] [--checkout ../main --checkout .] [--script]
                                 [--source rtsp://...]

``--script`` launches through a script like the installed ``streampose`` command (whose
module spawned stage processes re-import) instead of ``python -m streampose``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media/vtest.mp4"
MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"
DEADLINE_S = 120.0
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{checkout}: streampose exited {proc.returncode}: {err.strip()}")
    if first is None:
        first = total if out.exists() and out.read_bytes() else float("nan")
    return first, total, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=10, help="frames per run")
    parser.add_argument("--checkout", type=Path, action="append",
                        help="a project checkout to run (repeatable; default: this one)")
    parser.add_argument("--source", default=str(VIDEO), help="a file or a camera URL")
    parser.add_argument("--script", action="store_true",
                        help="launch as the installed `streampose` command does")
    args = parser.parse_args()
    checkouts = [c.resolve() for c in (args.checkout or [ROOT])]
    results: dict[Path, list[tuple[float, float, float]]] = {c: [] for c in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
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
    print(f"cores {len(os.sched_getaffinity(0))}, source {args.source}, {args.runs} runs each")
    for checkout, runs in results.items():
        med = statistics.median(r[0] for r in runs)
        exit_med = statistics.median(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        print(f"{checkout}: median first line {med:.2f} s ({med / base:.2f}x the first), "
              f"median exit {exit_med:.2f} s, median CPU {cpu:.2f} s "
              f"({cpu / base_cpu:.2f}x the first)")


if __name__ == "__main__":
    main()
