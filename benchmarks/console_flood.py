"""Issue 23's acceptance: a run with the console survives a connection flood.

Runs ``streampose run SOURCE --serve 127.0.0.1:P --serve-auth TOKEN`` (with a video, JSON
lines and a summary) under ``prlimit --nofile=NOFILE`` and, once the console answers:

- opens ``--slow`` connections (at ``--rate`` per second) that each send half a request
  line, ``GET / HTTP/1.1``, and hold it until the server closes them or ``--hold-s`` ends;
- makes ``--ws`` WebSocket attempts to ``/api/live`` with the token (every fifth from
  another ``Origin``), each held open until ``--hold-s`` ends if accepted;
- meanwhile, every ``--probe-every`` seconds, asks ``/api/status`` with the token on a new
  connection and times the answer.

The source is a live RTSP test camera (``tests/live/rtsp_server.py`` looping the video at
10 fps) read for ``--hold-s`` + ``--tail-s`` seconds of frames, so the run outlasts the
flood whatever the machine's speed; ``--file`` reads the video as a file instead (it must
then last longer than the flood: checked). Every client is bounded: connections close at
``--hold-s`` at the latest, and the flood stops by itself.

Prints the probes' latencies, how the flood's connections ended (closed by the server,
refused, accepted), the console's own counts (``/api/status`` ``console``), the log lines
the run wrote during the flood, and the run's exit status and outputs; exits 1 when an
acceptance check fails (a probe unanswered or over ``--probe-limit-s``, more than
``--max-lines`` log lines, the run over before the flood, exit status not 0, an output or
the summary missing).

    python benchmarks/console_flood.py [--video ../shared/media/vtest.mp4] [--file]
        [--nofile 256] [--slow 2000] [--ws 500] [--rate 400] [--hold-s 20] [--caps N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media" / "vtest.mp4"
MODEL = SHARED / "models" / "openpose-mnv2s-coco18.onnx"
TOKEN = "flood-test-token"
CAMERA_FPS = 10


@dataclass
class Flood:
    """How the flood's connections ended, and the probes' latencies."""

    slow: Counter[str] = field(default_factory=Counter)
    ws: Counter[str] = field(default_factory=Counter)
    probes: list[float | None] = field(default_factory=list)  # None: failed
    probe_errors: Counter[str] = field(default_factory=Counter)
    fds: list[int] = field(default_factory=list)  # the run's parent's, at each probe


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status(port: int, timeout: float, errors: Counter[str] | None = None
           ) -> dict[str, object] | None:
    """``/api/status`` with the token, or None (the reason counted in ``errors``)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except (OSError, urllib.error.URLError, ValueError) as exc:
        if errors is not None:
            errors[str(getattr(exc, "reason", exc))] += 1
        return None


def wait_for_console(port: int, run: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if status(port, 2.0) is not None:
            return True
        time.sleep(0.2)
    return False


async def connect(port: int, ends: Counter[str]
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """A connection to the console, or None (counted as ``connect failed``)."""
    try:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=5.0)
    except (OSError, asyncio.TimeoutError):
        ends["connect failed"] += 1
        return None


async def slow_client(port: int, hold_until: float, ends: Counter[str]) -> None:
    """Half a request line, then hold: how did it end?"""
    if (pair := await connect(port, ends)) is None:
        return
    reader, writer = pair
    try:
        writer.write(b"GET / HTTP/1.1\r\n")
        left = hold_until - time.monotonic()
        data = await asyncio.wait_for(reader.read(1), timeout=max(0.1, left))
        ends["closed by server" if not data else "answered"] += 1
    except asyncio.TimeoutError:
        ends["held to the end"] += 1
    except OSError:
        ends["closed by server"] += 1
    finally:
        writer.close()


def upgrade(port: int, origin: str | None) -> bytes:
    key = base64.b64encode(b"flood-0123456789").decode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    return (f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {TOKEN}\r\n{extra}\r\n").encode()


async def ws_client(port: int, origin: str | None, hold_until: float,
                    ends: Counter[str]) -> None:
    """A WebSocket attempt with the token: its status, then held while accepted."""
    if (pair := await connect(port, ends)) is None:
        return
    reader, writer = pair
    code = ""
    try:
        writer.write(upgrade(port, origin))
        line = await asyncio.wait_for(reader.readline(), timeout=10.0)
        code = line.split()[1].decode() if len(line.split()) > 1 else "closed"
        ends[code] += 1
        if code == "101":
            left = hold_until - time.monotonic()
            await asyncio.wait_for(reader.read(), timeout=max(0.1, left))
    except (OSError, asyncio.TimeoutError) as exc:
        if not code:
            ends[type(exc).__name__] += 1  # closed (reset) before any answer
    finally:
        writer.close()


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def probe(port: int, pid: int, until: float, every: float, result: Flood) -> None:
    while time.monotonic() < until:
        start = time.monotonic()
        result.fds.append(open_fds(pid))
        answer = await asyncio.to_thread(status, port, 10.0, result.probe_errors)
        result.probes.append(time.monotonic() - start if answer is not None else None)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - start)))


async def flood(port: int, pid: int, args: argparse.Namespace) -> Flood:
    result = Flood(fds=[open_fds(pid)])
    start = time.monotonic()
    hold_until = start + args.hold_s
    tasks = []
    prober = asyncio.create_task(probe(port, pid, hold_until, args.probe_every, result))
    total = args.slow + args.ws
    for i in range(total):
        if i < args.slow:
            tasks.append(asyncio.create_task(slow_client(port, hold_until, result.slow)))
        else:
            origin = "http://evil.example" if i % 5 == 0 else None
            tasks.append(asyncio.create_task(ws_client(port, origin, hold_until, result.ws)))
        await asyncio.sleep(max(0.0, start + (i + 1) / args.rate - time.monotonic()))
    await asyncio.gather(*tasks, prober)
    return result


def lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--model", default=str(MODEL))
    parser.add_argument("--file", action="store_true",
                        help="read the video as a file (default: a live RTSP test camera)")
    parser.add_argument("--tail-s", type=float, default=20.0,
                        help="seconds of camera frames the run reads beyond --hold-s")
    parser.add_argument("--nofile", type=int, default=256, help="the run's RLIMIT_NOFILE")
    parser.add_argument("--slow", type=int, default=2000, help="slow-header connections")
    parser.add_argument("--ws", type=int, default=500, help="WebSocket attempts")
    parser.add_argument("--rate", type=float, default=400.0, help="new connections per s")
    parser.add_argument("--hold-s", type=float, default=20.0, help="the flood's length")
    parser.add_argument("--probe-every", type=float, default=0.5)
    parser.add_argument("--probe-limit-s", type=float, default=2.0)
    parser.add_argument("--max-lines", type=int, default=100)
    parser.add_argument("--caps", type=int, default=None, help=(
        "[console] max_connections and max_connections_per_address for the run (default: "
        "the run's defaults); a large value leaves the descriptor reserve as the limit"))
    args = parser.parse_args()
    if not args.video.exists():
        raise SystemExit(f"no video {args.video} (the shared data folder beside the checkout)")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the flood's own sockets
    with contextlib.ExitStack() as stack:
        source = str(args.video) if args.file else stack.enter_context(camera(args)).url
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="console-flood-")))
        return flood_run(args, source, out)


@contextlib.contextmanager
def camera(args: argparse.Namespace) -> Iterator[Any]:
    """A live RTSP test camera looping the video at ``CAMERA_FPS`` (exits with one line
    when the test server cannot run here)."""
    sys.path.insert(0, str(ROOT))
    from tests.live.camera import RtspCamera, rtsp_available

    reason = rtsp_available()
    if reason is not None:
        raise SystemExit(f"console_flood: {reason} (or give --file)")
    cam = RtspCamera(file=args.video, fps=CAMERA_FPS)
    cam.start()
    try:
        yield cam
    finally:
        cam.close()


def run_command(args: argparse.Namespace, source: str, port: int, out: Path) -> list[str]:
    cmd = ["prlimit", f"--nofile={args.nofile}", sys.executable, "-m", "streampose", "run",
           source, "--model", args.model, "--no-progress",
           "--serve", f"127.0.0.1:{port}", "--serve-auth", TOKEN,
           "-o", str(out / "out.mp4"), "--json", str(out / "out.jsonl"),
           "--summary", str(out / "summary.json")]
    if not args.file:
        cmd += ["--max-frames", str(int(CAMERA_FPS * (args.hold_s + args.tail_s)))]
    if args.caps is not None:
        pipeline = out / "caps.toml"
        pipeline.write_text(f"[console]\nmax_connections = {args.caps}\n"
                            f"max_connections_per_address = {args.caps}\n")
        cmd += ["--config", str(pipeline)]
    return cmd


def flood_run(args: argparse.Namespace, source: str, out: Path) -> int:
    """The run under the flood; its report's exit status."""
    port = free_port()
    log = out / "run.log"
    cmd = run_command(args, source, port, out)
    with log.open("wb") as sink:
        run = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            if not wait_for_console(port, run, 120.0):
                print("the console never answered", file=sys.stderr)
                return 1
            before = lines(log)
            result = asyncio.run(flood(port, run.pid, args))
            during = lines(log) - before
            after = status(port, 10.0)
            alive = run.poll() is None
            rc = run.wait(timeout=900)
        finally:
            if run.poll() is None:
                run.kill()
    return report(args, result, during, after, alive, rc, out, log)


def report(args: argparse.Namespace, result: Flood, during: int, after: object,
           alive: bool, rc: int, out: Path, log: Path) -> int:
    ok = [p for p in result.probes if p is not None]
    failed = len(result.probes) - len(ok)
    print(f"flood: {args.slow} slow-header connections and {args.ws} WebSocket attempts at "
          f"{args.rate:.0f}/s, held up to {args.hold_s:.0f} s, run under "
          f"prlimit --nofile={args.nofile}")
    print(f"slow-header connections: {dict(result.slow)}")
    print(f"WebSocket attempts (HTTP status): {dict(result.ws)}")
    if ok:
        print(f"token /api/status during the flood: {len(ok)} answered, {failed} failed; "
              f"median {statistics.median(ok):.3f} s, max {max(ok):.3f} s")
    else:
        print(f"token /api/status during the flood: none answered ({failed} failed)")
    if result.probe_errors:
        print(f"probe failures: {dict(result.probe_errors)}")
    console = after.get("console") if isinstance(after, dict) else None
    print(f"the run's parent's open descriptors: {result.fds[0]} before the flood, at most "
          f"{max(result.fds)} during it (limit {args.nofile})")
    print(f"console counts after the flood: {console}  (run still going then: {alive})")
    summary = out / "summary.json"
    outputs = {"out.mp4": (out / "out.mp4").stat().st_size if (out / "out.mp4").exists() else 0,
               "out.jsonl lines": lines(out / "out.jsonl"),
               "summary.json": summary.exists() and bool(json.loads(summary.read_text()))}
    print(f"log lines during the flood: {during} (whole run: {lines(log)}); the run's log:")
    for line in log.read_text(errors="replace").splitlines()[:20]:
        print(f"    {line[:160]}")
    print(f"run exit status: {rc}; outputs: {outputs}")
    checks = {"every probe answered": failed == 0 and bool(ok),
              f"every probe within {args.probe_limit_s} s":
                  bool(ok) and max(ok) <= args.probe_limit_s,
              f"log lines <= {args.max_lines}": during <= args.max_lines,
              "the run outlasted the flood": alive,
              "exit status 0": rc == 0,
              "outputs and summary written": all(outputs.values())}
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
