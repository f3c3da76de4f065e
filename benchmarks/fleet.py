"""The fleet against one ``streampose run``, on this machine (issue 12's benchmark).

The same N RTSP test cameras (``tests/live/rtsp_server.py`` looping vtest re-encoded
with a keyframe a second, 10 fps, one server each) through:

(a) one ``streampose run --cameras`` (no Ray);
(b) the fleet on a local Ray cluster with one node (``ray.cluster_utils.Cluster``);
(c) the fleet with two nodes on this machine;

each for ``--seconds``: aggregate output fps (frames out over the window, from the
pipelines' own counters), lag p95 (the worst camera's capture-to-output p95) and the
machine's busy cores over the window (``/proc/stat``: the pipelines, Ray and the test
cameras together). Then, with two nodes, ``--trials`` times: a camera is added (it lands
on the second node, the least loaded), the node is removed (``--kill``: all its
processes SIGKILLed, so Ray's health checks must notice: 1 s period, 3 failures; default:
a graceful stop) and
the time from the removal to the camera's first pose message on MQTT from the survivor
is measured (p50/p95). Needs Ray (``pip install -e ".[cluster]"``), mosquitto and the
RTSP test server (``bash .ci/apt.sh``), and ``../shared``.

    python benchmarks/fleet.py [--cameras 3] [--seconds 40] [--trials 5] [--kill]
                               [--backend onnxruntime|fake]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.startup import one_second_gop  # noqa: E402 - after the path
from tests.broker import Mosquitto, Subscriber  # noqa: E402
from tests.live.camera import VTEST, RtspCamera  # noqa: E402

MODEL = ROOT.parent / "shared/models/openpose-mnv2s-coco18.onnx"
PREFIX = "bench"
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024, "include_dashboard": False}


def busy_cores() -> tuple[float, float]:
    """(busy jiffies, total jiffies) of the machine so far."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def cameras_file(folder: Path, urls: list[str], broker: Mosquitto, backend: str) -> Path:
    path = folder / "cameras.toml"
    cams = "".join(f'[[camera]]\nname = "cam{i}"\nurl = "{u}"\nrecord = false\n'
                   for i, u in enumerate(urls))
    path.write_text(f'[model]\npath = "{MODEL}"\nbackend = "{backend}"\n'
                    f'[mqtt]\nurl = "{broker.url(prefix=PREFIX)}"\n\n{cams}')
    return path


@contextlib.contextmanager
def window(seconds: float) -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    busy0, total0 = busy_cores()
    start = time.monotonic()
    yield out
    time.sleep(max(0.0, seconds - (time.monotonic() - start)))
    busy1, total1 = busy_cores()
    out["cpu_cores"] = cores() * (busy1 - busy0) / max(1.0, total1 - total0)


def single(file: Path, seconds: float, folder: Path) -> dict[str, Any]:
    """(a): one ``streampose run --cameras``; figures from its metrics page."""
    from streampose.fleet.figures import read_figures
    from tests.broker import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streampose", "run", "--cameras", str(file),
                             "--metrics-port", str(port), "--no-progress"],
                            stderr=open(folder / "single.log", "wb"))  # noqa: SIM115
    try:
        first = wait_for(lambda: _all_flowing(read_figures(port)), 120)
        with window(seconds) as cpu:
            time.sleep(seconds)
        last = read_figures(port) or {}
        return summarize(first, last, seconds, cpu)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _all_flowing(figures: dict[str, Any] | None) -> dict[str, Any] | None:
    if figures and all(f.get("frames_out", 0) > 0 for f in figures.values()):
        return figures
    return None


def summarize(first: dict[str, Any], last: dict[str, Any], seconds: float,
              cpu: dict[str, float]) -> dict[str, Any]:
    frames = sum(last[c].get("frames_out", 0) - first[c].get("frames_out", 0)
                 for c in last if c in first)
    lags = [f["lag_p95"] for f in last.values() if f.get("lag_p95") is not None]
    return {"fps": round(frames / seconds, 2), "lag_p95_s": round(max(lags), 3) if lags
            else None, "cpu_cores": round(cpu["cpu_cores"], 2)}


def wait_for(condition: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f} s")


def fleet_figures(ray: Any) -> dict[str, Any] | None:
    """Every camera's figures from the fleet's node actors (frames counted by each
    node's pipeline)."""
    from streampose.fleet.cluster import existing_node_actors

    out: dict[str, Any] = {}
    for handle in existing_node_actors().values():
        out.update(ray.get(handle.figures.remote(), timeout=30))
    return out


def fleet(file: Path, nodes: int, seconds: float, folder: Path, per_node: int
          ) -> dict[str, Any]:
    """(b)/(c): the fleet on a local cluster of ``nodes`` one-CPU nodes, each taking at
    most ``per_node`` cameras (its pipeline's stream slots)."""
    import ray
    from ray.cluster_utils import Cluster

    from streampose.cli import main

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    for _ in range(nodes - 1):
        cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="streampose", log_to_driver=False)
    try:
        assert main(["fleet", "up", str(file), "--work-dir", str(folder / f"work{nodes}"),
                     "--cameras-per-node", str(per_node)]) == 0
        first = wait_for(lambda: _all_flowing(fleet_figures(ray)), 120)
        with window(seconds) as cpu:
            time.sleep(seconds)
        result = summarize(first, fleet_figures(ray) or {}, seconds, cpu)
        main(["fleet", "down"])
        return result
    finally:
        ray.shutdown()
        cluster.shutdown()


def reassignment(file: Path, trials: int, kill: bool, broker: Mosquitto,
                 camera_url: str, folder: Path, per_node: int) -> list[float]:
    """Seconds from a node's removal to its camera's first pose from the survivor."""
    import ray
    from ray.cluster_utils import Cluster

    from streampose.cli import main

    # with --kill, Ray must notice the node's death: health checks every 1 s, dead after 3
    checks = {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
              "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True,
                      head_node_args={**NODE, "_system_config": checks} if kill else NODE)
    ray.init(address=cluster.address, namespace="streampose", log_to_driver=False)
    sub = Subscriber(broker, f"{PREFIX}/#")
    times = []
    try:
        assert main(["fleet", "up", str(file), "--work-dir", str(folder / "work-r"),
                     "--cameras-per-node", str(per_node)]) == 0
        for trial in range(trials):
            node = cluster.add_node(**NODE)
            cluster.wait_for_nodes()
            name = f"moved{trial}"
            wait_for(lambda n=node: _has_actor(ray, n.node_id), 120)
            assert main(["fleet", "add", name, "--url", camera_url, "--no-record"]) == 0
            topic = f"{PREFIX}/{name}/poses"
            wait_for(lambda t=topic: sub.on(t), 120)
            time.sleep(2)
            with sub._lock:
                mark = len(sub.messages)
            start = time.monotonic()
            cluster.remove_node(node, allow_graceful=not kill)
            wait_for(lambda c=name, m=mark: _poses_after_move(sub, c, m), 180)
            times.append(time.monotonic() - start)
            print(f"trial {trial + 1}: {times[-1]:.2f} s", file=sys.stderr)
            assert main(["fleet", "remove", name]) == 0  # room on the head for the next
        main(["fleet", "down"])
    finally:
        sub.close()
        ray.shutdown()
        cluster.shutdown()
    return times


def _has_actor(ray: Any, node_id: str) -> bool:
    from streampose.fleet.cluster import existing_node_actors

    return node_id in existing_node_actors()


def _poses_after_move(sub: Subscriber, camera: str, mark: int) -> bool:
    at = _status_moved(sub, camera, mark)
    with sub._lock:
        later = sub.messages[at + 1:] if at else []
    return any(m.topic == f"{PREFIX}/{camera}/poses" for m in later)


def _status_moved(sub: Subscriber, camera: str, mark: int) -> int:
    """The index of the ``moved`` status of ``camera`` after ``mark`` (0: none yet)."""
    with sub._lock:
        for i, m in enumerate(sub.messages[mark:], mark):
            if m.topic == f"{PREFIX}/{camera}/status" and '"moved"' in m.text:
                return i
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--kill", action="store_true",
                        help="SIGKILL the lost node's processes instead of a graceful stop")
    parser.add_argument("--backend", default="onnxruntime")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    results: dict[str, Any] = {"cameras": args.cameras, "seconds": args.seconds,
                               "machine_cores": cores(), "backend": args.backend}
    with contextlib.ExitStack() as stack:
        broker = Mosquitto(folder / "mqtt").start()
        stack.callback(broker.stop)
        clip = one_second_gop(VTEST, folder / "camera.mp4")  # a keyframe a second
        cams = [stack.enter_context(RtspCamera(file=clip, fps=10, mount=f"/cam{i}"))
                for i in range(args.cameras + 1)]
        file = cameras_file(folder, [c.url for c in cams[:-1]], broker, args.backend)
        results["single"] = single(file, args.seconds, folder)
        print(json.dumps(results["single"]), file=sys.stderr)
        results["fleet_1_node"] = fleet(file, 1, args.seconds, folder, args.cameras)
        print(json.dumps(results["fleet_1_node"]), file=sys.stderr)
        results["fleet_2_nodes"] = fleet(file, 2, args.seconds, folder, args.cameras)
        print(json.dumps(results["fleet_2_nodes"]), file=sys.stderr)
        if args.trials:
            times = reassignment(file, args.trials, args.kill, broker, cams[-1].url, folder,
                                 args.cameras + 1)
            results["reassign_s"] = {"kill": args.kill, "trials": [round(t, 2) for t in times],
                                     "p50": round(statistics.median(times), 2),
                                     "p95": round(sorted(times)[max(0, round(0.95 *
                                                  len(times)) - 1)], 2)}
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
