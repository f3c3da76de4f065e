"""Live add and remove: a running ``streampose run --cameras`` follows its cameras file.

Real RTSP test cameras (looping vtest), a real pipeline in a subprocess; the cameras file
is rewritten (or SIGHUP sent) while it runs. What is checked is what happened: the
cameras that stayed kept flowing (no gap between their frames longer than a second), the
removed camera's recording is complete and playable, a slot freed by one camera is used
by the next, every camera's name is on its records, /dev/shm is clean at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import av
import pytest

from tests.live.camera import VTEST, RtspCamera, free_port
from tests.support.shm import shm_segments
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.usefixtures("rtsp_vtest")]

WAIT_S = 90.0  # deadline for each awaited event (a loaded machine is slow, not wrong)
# The cameras that stay: no pause longer than this while others change (a restarted run
# would stop them for its start-up, model load included: several seconds; 1 s was
# exceeded by 0.1 s under stress-ng --cpu 2 on 2 cores).
MAX_GAP_S = 3.0
ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT.parent / "shared" / "models" / "openpose-mnv2s-coco18.onnx"


class Run:
    """``streampose run --cameras FILE`` in the background; the log goes to a file."""

    def __init__(self, tmp: Path, cameras: dict[str, RtspCamera], *extra: str,
                 model: str = "openpose-mnv2s-coco18.onnx", backend: str = "fake",
                 first: list[str] | None = None, udp: tuple[str, ...] = ()) -> None:
        self.tmp, self.cameras, self.udp = tmp, cameras, udp
        self.file, self.jsonl, self.log = tmp / "cameras.toml", tmp / "o.jsonl", tmp / "log.txt"
        (tmp / "rec").mkdir()
        self.model, self.backend = model, backend
        self.write(list(cameras)[:2] if first is None else first)
        args = [sys.executable, "-m", "streampose", "run", "--cameras", str(self.file),
                "--no-progress", "--log-level", "INFO", "--duration", "600", *extra]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(args, stderr=log, text=True, cwd=ROOT)

    def write(self, names: list[str]) -> None:
        text = (f'[model]\npath = "{self.model}"\nbackend = "{self.backend}"\n'
                '[outputs]\nvideo = "rec/{camera}.mp4"\njson = "o.jsonl"\nsummary = "s.json"\n')
        for name in names:
            text += f'[[camera]]\nname = "{name}"\nurl = "{self.cameras[name].url}"\n'
            if name in self.udp:
                text += 'transport = "udp"\n'
        self.file.write_text(text)

    def walls(self) -> dict[str, list[float]]:
        """Capture times of each camera's frames written so far."""
        text = self.jsonl.read_text() if self.jsonl.exists() else ""
        found: dict[str, list[float]] = defaultdict(list)
        for line in text.splitlines(keepends=True):
            if line.endswith("\n"):
                record = json.loads(line)
                found[record["camera"]].append(record["wall"])
        return found

    def await_frames(self, camera: str, count: int, *, after: float = 0.0) -> None:
        def enough() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            return len([w for w in self.walls()[camera] if w > after]) >= count
        self._wait(enough, f"{count} frames of camera {camera!r}")

    def await_log(self, text: str) -> None:
        self._wait(lambda: text in self.log.read_text(), repr(text))

    def _wait(self, condition, what: str) -> None:  # type: ignore[no-untyped-def]
        try:
            wait_until(condition, timeout=WAIT_S, what=what)
        except pytest.fail.Exception as exc:
            tail = "\n".join(self.log.read_text().splitlines()[-30:])
            pytest.fail(f"{exc}\n--- the run's log (last 30 lines) ---\n{tail}")

    def interrupt(self) -> dict:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        log = self.log.read_text()
        assert self.proc.returncode == 130, log
        assert shm_segments(self.proc.pid) == []
        mine = f"sp-{self.proc.pid}-"  # segments and the run's semaphores (sem.sp-...)
        assert [n for n in os.listdir("/dev/shm") if mine in n] == []
        assert "Traceback" not in log
        return json.loads((self.tmp / "s.json").read_text())


def max_gap(walls: list[float], start: float, end: float) -> float:
    inside = sorted(w for w in walls if start <= w <= end)
    assert len(inside) >= 2
    return max(b - a for a, b in itertools.pairwise(inside))


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.alone  # MAX_GAP_S
def test_a_third_camera_joins_and_the_first_leaves(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as a, RtspCamera(file=VTEST) as b, \
            RtspCamera(file=VTEST) as c:
        port = free_port()
        run = Run(tmp_path, {"a": a, "b": b, "c": c}, "--max-streams", "3", "--backend",
                  "fake", "--metrics-port", str(port), udp=("c",))
        run.await_frames("a", 20)
        run.await_frames("b", 20)
        changed = time.time()
        run.write(["b", "c"])  # c joins, a leaves: seen by the file's modification time
        run.await_log("camera 'a' drained")
        run.await_frames("c", 20, after=changed)
        run.await_frames("b", 20, after=changed)
        settled = time.time()
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
        summary = run.interrupt()

    assert "camera 'c' attached (rtsp://" in run.log.read_text()
    assert "RTSP over udp" in run.log.read_text()  # c's own transport; a and b: tcp
    text = metrics.decode()
    assert 'camera="c"' in text and 'camera="b"' in text and 'camera="a"' not in text

    walls = run.walls()
    # b flowed all along, while c was added and a removed
    assert max_gap(walls["b"], changed - 2.0, settled) <= MAX_GAP_S
    assert min(walls["c"]) > changed and max(walls["a"]) < settled
    # a's recording was closed when it left: complete and playable, one frame per record
    assert decoded_frames(tmp_path / "rec" / "a.mp4") == len(walls["a"])
    assert decoded_frames(tmp_path / "rec" / "c.mp4") == len(walls["c"])
    slots = {tuple(s["cameras"]): s for s in summary["streams"]}
    assert set(slots) == {("a",), ("b",), ("c",)}
    assert sum(s["frames_out"] for s in summary["streams"]) == sum(map(len, walls.values()))


@pytest.mark.alone  # MAX_GAP_S
def test_a_freed_slot_is_reused_on_sighup_with_the_real_model(tmp_path: Path) -> None:
    if not MODEL.exists():
        pytest.skip("needs ../shared/models/openpose-mnv2s-coco18.onnx")
    with RtspCamera(file=VTEST) as a, RtspCamera(file=VTEST) as b, \
            RtspCamera(file=VTEST) as c:
        run = Run(tmp_path, {"a": a, "b": b, "c": c}, model=str(MODEL), backend="onnxruntime")
        run.await_frames("a", 5)
        run.await_frames("b", 5)
        changed = time.time()
        run.write(["c", "b"])
        run.proc.send_signal(signal.SIGHUP)  # no need to wait for the modification time
        run.await_log("camera 'a' drained")
        run.await_frames("c", 5, after=changed)
        run.await_frames("b", 5, after=changed)
        settled = time.time()
        summary = run.interrupt()

    walls = run.walls()
    assert max_gap(walls["b"], changed - 2.0, settled) <= MAX_GAP_S
    # two slots (the file's two cameras): c took the one a left
    assert [s["cameras"] for s in summary["streams"]] == [["a", "c"], ["b"]]
    shares = summary["streams"][0]["by_camera"]  # each camera's own counts in the slot
    assert [(x["camera"], x["frames_out"]) for x in shares] == \
        [("a", len(walls["a"])), ("c", len(walls["c"]))]
    assert decoded_frames(tmp_path / "rec" / "a.mp4") == len(walls["a"])
    records = [json.loads(x) for x in run.jsonl.read_text().splitlines()]
    assert any(r["persons"] for r in records if r["camera"] == "c")  # the model saw people
    assert {r["stream"] for r in records if r["camera"] in ("a", "c")} == {0}


def test_a_run_may_start_with_no_camera_and_get_one(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as a:
        run = Run(tmp_path, {"a": a}, "--max-streams", "2", first=[])
        run.await_log("stage render started")
        run.write(["a"])
        run.proc.send_signal(signal.SIGHUP)
        run.await_frames("a", 10)
        summary = run.interrupt()
    assert [s["cameras"] for s in summary["streams"]] == [["a"], []]
    assert decoded_frames(tmp_path / "rec" / "a.mp4") == len(run.walls()["a"])


def test_mqtt_follows_the_slots(tmp_path: Path) -> None:
    from tests.broker import Mosquitto, Subscriber, mosquitto_or_skip

    mosquitto_or_skip()
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        subscriber = Subscriber(broker, "#")
        a_config = "homeassistant/sensor/streampose_a/people/config"
        b_config = "homeassistant/sensor/streampose_b/people/config"
        with RtspCamera(file=VTEST) as a, RtspCamera(file=VTEST) as b:
            run = Run(tmp_path, {"a": a, "b": b}, "--mqtt", broker.url(),
                      "--mqtt-discovery", "homeassistant", first=["a"])
            subscriber.wait_for("streampose/a/poses", lambda m: True, what="a's poses")
            subscriber.wait_for("streampose/a/status", lambda m: '"online"' in m.text,
                                what="a online")
            subscriber.wait_for(a_config, lambda m: bool(m.text), what="a's discovery")
            run.write(["b"])
            subscriber.wait_for("streampose/a/status", lambda m: '"offline"' in m.text,
                                what="a offline once removed")
            # Home Assistant removes a's entities (an empty config), makes b's
            subscriber.wait_for(a_config, lambda m: m.text == "", what="a's config cleared")
            subscriber.wait_for(b_config, lambda m: bool(m.text), what="b's discovery")
            subscriber.wait_for("streampose/b/poses", lambda m: True, what="b's poses")
            subscriber.wait_for("streampose/b/status", lambda m: '"online"' in m.text,
                                what="b online")
            seen = len(subscriber.on("streampose/a/poses"))
            run.await_frames("b", 10)
            summary = run.interrupt()
        subscriber.close()
    finally:
        broker.stop()
    assert len(subscriber.on("streampose/a/poses")) == seen  # nothing of a after it left
    poses = [json.loads(m.text) for m in subscriber.on("streampose/b/poses")]
    assert all(p["camera"] == "b" and p["stream"] == 0 for p in poses)
    assert [s["cameras"] for s in summary["streams"]] == [["a", "b"]]


def test_a_dead_camera_without_reconnection_ends_alone(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as a:
        dead = RtspCamera(file=VTEST, port=free_port())  # never started: its port refuses
        run = Run(tmp_path, {"a": a, "dead": dead}, "--no-reconnect", "--open-timeout", "2")
        run.await_log("ERROR decode1: ")  # the dead camera fails alone
        run.await_frames("a", 20)
        summary = run.interrupt()
    assert [s["cameras"] for s in summary["streams"]] == [["a"], ["dead"]]
    assert summary["streams"][1]["frames_out"] == 0
