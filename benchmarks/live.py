"""Live cameras: 1, 2 and 4 looping RTSP cameras (vtest at 10 fps) with the shared model.

Starts the loopback RTSP test servers (tests/live/rtsp_server.py, Debian's GStreamer,
run with /usr/bin/python3), runs ``streampose run`` on all cameras for ``--duration``
seconds with JSON lines and an annotated recording per camera, and prints per stream:
output fps, drop rate, latency p50/p95 (capture to output), and the pipeline's CPU use
(user+system time of streampose and its stage processes / wall time / cores).

    python benchmarks/live.py [--cameras 1 2 4] [--duration 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SERVER = ROOT / "tests" / "live" / "rtsp_server.py"
MODEL = SHARED / "models" / "openpose-mnv2s-coco18.onnx"
VIDEO = SHARED / "media" / "vtest.mp4"


def start_camera(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["/usr/bin/python3", str(SERVER), "--port", str(port), "--mount",
                             "/cam", "--file", str(VIDEO)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    if "READY" not in (proc.stdout.readline() if proc.stdout else ""):
        proc.kill()
        raise SystemExit("the RTSP test server did not start (see .ci/apt-live.sh)")
    return proc


def run_pipeline(urls: list[str], duration: float, out: Path) -> tuple[dict, float, float]:
    args = [sys.executable, "-m", "streampose", "run", *urls, "--model", str(MODEL),
            "--json", str(out / "o.jsonl"), "-o", str(out / "cam_{stream}.mp4"),
            "--summary", str(out / "s.json"), "--duration", str(duration), "--no-progress"]
    start = time.monotonic()
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"streampose exited {os.waitstatus_to_exitcode(status)}")
    cpu = (usage.ru_utime + usage.ru_stime) / wall / (os.cpu_count() or 1)
    return json.loads((out / "s.json").read_text()), cpu, wall


def stream_fps(jsonl: Path, stream: int) -> float:
    walls = [json.loads(x)["wall"] for x in jsonl.read_text().splitlines()
             if json.loads(x)["stream"] == stream]
    return (len(walls) - 1) / (walls[-1] - walls[0]) if len(walls) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    for n in args.cameras:
        cameras = [start_camera(18700 + i) for i in range(n)]
        try:
            with tempfile.TemporaryDirectory() as tmp:
                urls = [f"rtsp://127.0.0.1:{18700 + i}/cam" for i in range(n)]
                summary, cpu, wall = run_pipeline(urls, args.duration, Path(tmp))
                fps = [stream_fps(Path(tmp) / "o.jsonl", i) for i in range(n)]
        finally:
            for camera in cameras:
                camera.kill()
                camera.wait()
        print(f"{n} camera(s), {wall:.0f} s run, pipeline CPU {100 * cpu:.0f}% of "
              f"{os.cpu_count()} cores")
        for s, f in zip(summary["streams"], fps, strict=True):
            drop = s["dropped"] / s["frames_in"] if s["frames_in"] else 0.0
            print(f"  stream {s['stream']}: out {f:5.2f} fps, dropped {100 * drop:4.1f}% "
                  f"({s['dropped']}/{s['frames_in']}), latency p50 {s['latency_p50_s']} s "
                  f"p95 {s['latency_p95_s']} s")


if __name__ == "__main__":
    main()
