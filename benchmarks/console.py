"""The web console's cost: pipeline fps and CPU with and without one live viewer, and with
events on, in one run of this script.

Runs ``streampose run VIDEO`` (``--max-frames``, summary to a temporary file) in turn:

- ``baseline``: no console;
- ``serve``: ``--serve`` with nobody watching (the console sink is there, copies nothing);
- ``viewer``: ``--serve`` and one viewer from the start: a Python WebSocket client pulling
  every picture of stream 0 (or headless chromium with ``--viewer chromium``);
- ``events``: ``--serve`` plus ``--events-args`` (e.g. three rules), when given.

For each: steady fps (render's first to last frame), wall time, CPU (user+system of
streampose and its stage processes) in cores, pictures the viewer received. "CPU per
viewer" is ``viewer - serve`` in cores. Figures are for a quiet machine; on a short input
(``--frames 30``) it only proves the script works.

    python benchmarks/console.py [--video ../shared/media/vtest_1080p_300f.mp4] [--frames 300]
        [--model ../shared/models/openpose-mnv2s-coco18.onnx] [--backend onnxruntime]
        [--viewer python|chromium] [--events-args "--events ev.jsonl --line ..."]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media" / "vtest_1080p_300f.mp4"
MODEL = SHARED / "models" / "openpose-mnv2s-coco18.onnx"
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Result:
    name: str
    steady_fps: float | None
    wall_s: float
    cpu_cores: float
    pictures: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PythonViewer:
    """One WebSocket viewer of stream 0 on its own thread, counting the pictures it gets."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/api/live"
        self.pictures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    async def _run(self) -> None:
        import aiohttp

        while not self._stop.is_set():
            try:
                async with aiohttp.ClientSession() as session, \
                        session.ws_connect(self.url) as ws:
                    await ws.send_str(json.dumps({"watch": [0]}))
                    while not self._stop.is_set():
                        msg = await ws.receive(timeout=0.5)
                        if msg.type == aiohttp.WSMsgType.BINARY:
                            self.pictures += 1
                        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                            break
            except (OSError, aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)  # not up yet, or gone: try again until stopped


class ChromiumViewer:
    """Headless chromium on the console page (Playwright, the system browser)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.pictures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from playwright.sync_api import Error, sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page()
            while not self._stop.is_set():
                try:
                    page.goto(self.url)
                    break
                except Error:
                    time.sleep(0.2)
            seen = None
            while not self._stop.is_set():
                src = page.evaluate("() => document.querySelector('#cam-0 img.pic')?.src")
                if src and src != seen:
                    seen, self.pictures = src, self.pictures + 1
                time.sleep(0.05)
            browser.close()


def run(name: str, base: list[str], extra: list[str], viewer: str | None,
        tmp: Path) -> Result:
    summary = tmp / f"{name}.json"
    args = [*base, "--summary", str(summary), *extra]
    watcher = None
    if viewer is not None:
        port = int(extra[extra.index("--serve") + 1])
        watcher = (ChromiumViewer if viewer == "chromium" else PythonViewer)(port)
        watcher.start()
    start = time.monotonic()
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if watcher is not None:
        watcher.stop()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{name}: streampose exited {code} ({shlex.join(args)})")
    data = json.loads(summary.read_text())
    return Result(name, data.get("steady_fps"), wall, (usage.ru_utime + usage.ru_stime) / wall,
                  watcher.pictures if watcher is not None else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--frames", type=int, default=300, help="--max-frames of each run")
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--viewer", choices=("python", "chromium"), default="python")
    parser.add_argument("--events-args", default="",
                        help="streampose options that turn events on (e.g. three rules)")
    args = parser.parse_args()
    if not args.video.exists():
        raise SystemExit(f"no video {args.video} (the shared data folder beside the checkout)")
    if args.viewer == "chromium" and not CHROMIUM.exists():
        raise SystemExit(f"--viewer chromium needs {CHROMIUM}")
    base = [sys.executable, "-m", "streampose", "run", str(args.video), "--model", args.model,
            "--backend", args.backend, "--max-frames", str(args.frames), "--no-progress"]
    plan = [("baseline", [], None), ("serve", ["--serve", str(free_port())], None),
            ("viewer", ["--serve", str(free_port())], args.viewer)]
    if args.events_args:
        plan.append(("events", ["--serve", str(free_port()), *shlex.split(args.events_args)],
                     None))
    else:
        print("events: skipped (give --events-args with the options of three rules)")
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(name, base, extra, viewer, Path(tmp)) for name, extra, viewer in plan]
    print(f"{args.video.name}, {args.frames} frames, {args.backend}, {os.cpu_count()} cores")
    for r in results:
        fps = f"{r.steady_fps:6.2f}" if r.steady_fps else "     -"
        print(f"  {r.name:9s} steady {fps} fps  wall {r.wall_s:6.1f} s  "
              f"CPU {r.cpu_cores:5.2f} cores  pictures {r.pictures}")
    by = {r.name: r for r in results}
    serve, viewer = by["serve"], by["viewer"]
    if serve.steady_fps and viewer.steady_fps:
        print(f"one viewer: {100 * (viewer.steady_fps / serve.steady_fps - 1):+.1f}% fps, "
              f"{viewer.cpu_cores - serve.cpu_cores:+.2f} cores")
    base_fps, events = by["baseline"].steady_fps, by.get("events")
    if events is not None and events.steady_fps and base_fps:
        print(f"events on: {100 * (events.steady_fps / base_fps - 1):+.1f}% fps vs baseline")


if __name__ == "__main__":
    main()
