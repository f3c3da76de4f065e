"""The README's console screenshot: two looping RTSP cameras, the real model, events on, a
real browser.

    python tools/console_screenshot.py docs/console.png

Starts two test cameras (``tests/live/rtsp_server.py``, Debian's GStreamer RTSP server,
looping ``../shared/media/vtest.mp4``), runs the README's acceptance command

    streampose run rtsp://.../cam0 rtsp://.../cam1 --serve PORT --events events.jsonl \
        --config pipelines/rtsp_surveillance.toml

(outputs redirected to a temporary folder), opens the console in Debian's chromium
(Playwright, nothing downloaded), waits until both pictures are live and a line event is
listed, saves the screenshot, then stops the run with SIGINT and checks it ended cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "media" / "vtest.mp4"
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 240_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def camera(port: int, mount: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests/live/rtsp_server.py"),
                             "--port", str(port), "--mount", mount, "--file", str(VIDEO),
                             "--watch-parent"])


def run_command(cams: list[str], port: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "streampose", "run", *cams, "--serve", str(port),
            "--events", str(out / "events.jsonl"),
            "--config", str(ROOT / "pipelines/rtsp_surveillance.toml"),
            "-o", str(out / "cam.mp4"), "--json", str(out / "poses.jsonl"),
            "--metrics-port", str(free_port()), "--no-progress", "--duration", "600"]


def shoot(base: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:  # the console starts once the model is loaded and the cameras probed
            try:
                page.goto(base)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for i in (0, 1):
            page.wait_for_function(f"() => (document.querySelector('#cam-{i} img.pic') || "
                                   "{}).src?.startsWith('blob:')", timeout=WAIT_MS)
            page.wait_for_function(f"() => document.querySelector('#cam-{i} .state')"
                                   ".textContent === 'online'", timeout=WAIT_MS)
        page.wait_for_function("() => [...document.querySelectorAll('.event')].some(e => "
                               "e.querySelector('img')?.naturalWidth > 0)", timeout=WAIT_MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(path), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path)
    args = parser.parse_args()
    ports = [free_port(), free_port()]
    cams = [camera(port, f"/cam{i}") for i, port in enumerate(ports)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        time.sleep(3)  # the servers bind
        urls = [f"rtsp://127.0.0.1:{port}/cam{i}" for i, port in enumerate(ports)]
        serve = free_port()
        run = subprocess.Popen(run_command(urls, serve, out))
        try:
            shoot(f"http://127.0.0.1:{serve}/", args.png)
        finally:
            run.send_signal(signal.SIGINT)
            code = run.wait(timeout=120)
            for cam in cams:
                cam.terminate()
        events = (out / "events.jsonl").read_text().splitlines()
        print(f"{args.png}: saved; run exit {code}; {len(events)} events")
    return 0 if code == 128 + signal.SIGINT else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
