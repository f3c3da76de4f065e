"""The fleet on a real local Ray cluster (``ray.cluster_utils.Cluster``: a head and two
nodes, one CPU each, a small object store), real RTSP test cameras and a real mosquitto.

One cluster for the whole module (starting one costs seconds of CPU); the tests run in
order and each leaves the fleet in the state the next one expects:

1. three cameras placed, one per node, their poses on MQTT;
2. a node removed (its processes, the raylet among them, SIGKILLed): its camera moves
   to a survivor, says ``moved`` (status and MQTT), its poses come again; its old
   pipeline is gone; never two owners; the lost node's availability goes ``offline``
   (its pipeline's last will) while the survivors' and their cameras' stay ``online``
   throughout;
3. a node added: a new camera lands there; ``fleet remove`` takes one away;
4. the controller killed: Ray restarts it, it rebuilds its view from the node actors and
   no healthy camera's pipeline restarts;
5. ``fleet down``: every pipeline stopped, the controller gone.

The node pipelines run the fake backend (``[model] backend = "fake"``) to keep the CPU
low; every wait is a deadline, not a speed requirement.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streampose.cli import main
from tests.broker import Mosquitto, Subscriber
from tests.live.camera import VTEST, RtspCamera, rtsp_available
from tests.support.models import MODEL_NAME
from tests.support.waiting import wait_until

ray = pytest.importorskip("ray", reason='needs Ray: pip install -e ".[cluster]"')
# alone: a Ray cluster of three nodes and their pipelines take both cores; a heavy test
# beside it on the other xdist worker stretched its waits past their bounds on 2 cores
pytestmark = [pytest.mark.cluster, pytest.mark.live, pytest.mark.slow, pytest.mark.alone]

DEADLINE_S = 90.0  # generous: three pipelines and a Ray cluster on a loaded machine
PREFIX = "fleet"
NODE_ARGS = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024,
             "include_dashboard": False}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@pytest.fixture(scope="module")
def camera() -> Iterator[RtspCamera]:
    """One RTSP test server looping vtest at 10 fps (a keyframe every 6.4 s); every fleet
    camera watches it under its own name (the server shares one media between its
    clients)."""
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(f"no RTSP test server: {reason}")
    if not VTEST.exists():
        pytest.skip("needs ../shared/media/vtest.mp4 (the shared data folder)")
    with RtspCamera(file=VTEST, fps=10) as cam:
        yield cam


@pytest.fixture(scope="module")
def broker(folder: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(folder / "mqtt").start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(scope="module")
def subscriber(broker: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(broker, f"{PREFIX}/#")
    yield sub
    sub.close()


@pytest.fixture(scope="module")
def cluster(camera: RtspCamera, broker: Mosquitto) -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE_ARGS))
    cluster.add_node(**NODE_ARGS)
    cluster.add_node(**NODE_ARGS)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="streampose", include_dashboard=False,
             log_to_driver=False)
    try:
        yield cluster
    finally:
        from streampose.fleet import cluster as fleet

        if fleet.controller_handle() is not None:  # a failed test left it up
            main(["fleet", "down"])
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def cameras_file(folder: Path, camera: RtspCamera, broker: Mosquitto) -> Path:
    path = folder / "cameras.toml"
    cams = "".join(f'[[camera]]\nname = "{name}"\nurl = "{camera.url}"\nrecord = false\n'
                   for name in ("cam1", "cam2", "cam3"))
    path.write_text(f'[model]\npath = "{MODEL_NAME}"\nbackend = "fake"\n'
                    f'[mqtt]\nurl = "{broker.url(prefix=PREFIX)}"\nstatus_interval_s = 1\n'
                    f'[live]\nstall_timeout_s = 20\n\n{cams}', encoding="utf-8")
    return path


# -- helpers -----------------------------------------------------------------------------


def controller() -> Any:
    from streampose.fleet.cluster import controller_handle

    handle = controller_handle()
    assert handle is not None, "no fleet controller"
    return handle


def view() -> dict[str, Any]:
    return ray.get(controller().status.remote(), timeout=60)


def rows() -> dict[str, dict[str, Any]]:
    return {r["camera"]: r for r in view()["cameras"]}


def node_infos() -> dict[str, dict[str, Any]]:
    """Each live node actor's info, by node name."""
    from streampose.fleet.cluster import existing_node_actors

    out = {}
    for handle in existing_node_actors().values():
        try:
            info = ray.get(handle.info.remote(), timeout=30)
        except ray.exceptions.RayError:
            continue
        out[info["node"]] = info
    return out


def statuses(sub: Subscriber, camera: str) -> list[dict[str, Any]]:
    return [json.loads(m.text) for m in sub.on(f"{PREFIX}/{camera}/status")]


def poses_after(sub: Subscriber, camera: str, index: int) -> bool:
    """Whether a pose message of ``camera`` came after message number ``index``."""
    topic = f"{PREFIX}/{camera}/poses"
    with sub._lock:
        later = sub.messages[index + 1:]
    return any(m.topic == topic for m in later)


def all_online() -> dict[str, dict[str, Any]] | None:
    current = rows()
    return current if all(r["state"] == "online" for r in current.values()) else None


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


class OwnerWatch:
    """Samples every camera's owners as the node actors report them, in a thread, and
    remembers any camera that ever had more than one."""

    def __init__(self) -> None:
        self.doubles: list[dict[str, list[str]]] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                owners = ray.get(controller().owners.remote(), timeout=30)
            except Exception:  # a restarting controller: sample again
                time.sleep(0.5)
                continue
            self.samples += 1
            doubled = {c: o for c, o in owners.items() if len(o) > 1}
            if doubled:
                self.doubles.append(doubled)
            time.sleep(0.3)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


# -- the tests, in order -------------------------------------------------------------------


def test_up_places_three_cameras(cluster: Any, cameras_file: Path, subscriber: Subscriber,
                                 folder: Path) -> None:
    # two cameras a node (each slot of a pipeline has its decode process from the start)
    assert main(["fleet", "up", str(cameras_file), "--address", cluster.address,
                 "--work-dir", str(folder / "work"), "--cameras-per-node", "2"]) == 0
    placed = wait_until(all_online, timeout=DEADLINE_S, what="three cameras online")
    # one per node: the least-loaded node takes each next camera
    assert sorted(r["node"] for r in placed.values()) == sorted(node_infos())
    assert len({r["node"] for r in placed.values()}) == 3
    for name in placed:
        wait_until(lambda n=name: subscriber.on(f"{PREFIX}/{n}/poses"), timeout=DEADLINE_S,
                   what=f"{name}'s poses on MQTT")
    assert main(["fleet", "up", str(cameras_file), "--address", cluster.address]) == 2


def test_a_lost_node_moves_its_camera(cluster: Any, subscriber: Subscriber) -> None:
    before = rows()
    infos = node_infos()
    head_name = next(n["node"] for n in infos.values()
                     if n["node_id"] == cluster.head_node.node_id)
    driver = ray.get_runtime_context().get_node_id()  # Ray refuses to remove the driver's
    victim = next(n for n in cluster.worker_nodes if n.node_id != driver)
    lost = next(i for i in infos.values() if i["node_id"] == victim.node_id)
    (moved,) = lost["cameras"]
    old_pid = lost["pid"]
    assert old_pid is not None and alive(old_pid)
    survivors = [name for name in before if name != moved]
    for node in infos:  # every node's pipeline says it is up, on a topic of its own
        subscriber.wait_for(f"{PREFIX}/node/{node}/availability", lambda m: m.text == "online",
                            what=f"{node}'s availability")
    for name in survivors:
        subscriber.wait_for(f"{PREFIX}/{name}/availability", lambda m: m.text == "online",
                            what=f"{name}'s availability")
    watch = OwnerWatch()
    mark = len(subscriber.messages)
    try:
        cluster.remove_node(victim, allow_graceful=False)  # SIGKILL: no goodbye
        # the lost node's pipeline stops with it (its actor's process is gone)
        wait_until(lambda: not alive(old_pid), timeout=DEADLINE_S,
                   what="the lost node's pipeline to stop")
        subscriber.wait_for(f"{PREFIX}/node/{lost['node']}/availability",
                            lambda m: m.text == "offline", what="the lost node's last will")
        said = wait_until(
            lambda: next((s for s in statuses(subscriber, moved)
                          if s["state"] == "moved"), None),
            timeout=DEADLINE_S, what=f"{moved}'s 'moved' status on MQTT")
        assert said["from"] == lost["node"] and said["node"] != lost["node"]
        target = said["node"]
        shown = view()
        row = next(r for r in shown["cameras"] if r["camera"] == moved)
        assert row["moved_from"] == lost["node"] and row["node"] == target
        assert row["state"] in ("moved", "online")
        assert any(e["event"] == "moved" and e["camera"] == moved
                   for e in shown["history"])
        # its poses come again, now from the survivor
        topic = f"{PREFIX}/{moved}/status"
        with subscriber._lock:
            moved_at = next(i for i, m in enumerate(subscriber.messages)
                            if i >= mark and m.topic == topic and '"moved"' in m.text)
        wait_until(lambda: poses_after(subscriber, moved, moved_at), timeout=DEADLINE_S,
                   what=f"{moved}'s poses after the move")
        wait_until(lambda: any(s["state"] == "online" and s["node"] == target
                               for s in statuses(subscriber, moved)),
                   timeout=DEADLINE_S, what=f"{moved} online on {target}")
        wait_until(lambda: rows()[moved]["state"] == "online", timeout=DEADLINE_S,
                   what=f"{moved} online in fleet status")
    finally:
        watch.stop()
    assert watch.samples > 0 and watch.doubles == []
    # the other cameras never moved
    after = rows()
    for name, row in before.items():
        if name != moved:
            assert after[name]["node"] == row["node"]
    assert head_name in {r["node"] for r in after.values()}
    # availability: only the lost node's went offline; the survivors' and their cameras'
    # said nothing else after the kill, and the fleet's own (the controller's) is online
    with subscriber._lock:
        since = subscriber.messages[mark:]
    for available in [f"{PREFIX}/node/{n}/availability" for n in infos
                      if n != lost["node"]] + [f"{PREFIX}/{n}/availability" for n in survivors]:
        assert {m.text for m in since if m.topic == available} <= {"online"}, available
    assert [m.text for m in subscriber.on(f"{PREFIX}/availability")] == ["online"]
    # after the move, the lost node never said its camera is online again
    with subscriber._lock:
        later = [json.loads(m.text) for m in subscriber.messages[moved_at:]
                 if m.topic == topic]
    assert not any(s["state"] == "online" and s["node"] == lost["node"] for s in later)
    # the new owner starts the camera: it says starting (never reconnecting), then online
    by_target = [s["state"] for s in later if s["node"] == target and s["state"] != "moved"]
    first_online = by_target.index("online")
    assert set(by_target[:first_online]) <= {"starting"}, by_target


def test_a_new_node_takes_new_cameras(cluster: Any, subscriber: Subscriber,
                                      camera: RtspCamera, capsys: Any) -> None:
    cluster.add_node(**NODE_ARGS)
    cluster.wait_for_nodes()
    fresh = wait_until(lambda: next((i for i in node_infos().values() if not i["cameras"]),
                                    None),
                       timeout=DEADLINE_S, what="the new node's pipeline actor")
    before = rows()
    assert main(["fleet", "add", "cam4", "--url", camera.url, "--no-record"]) == 0
    wait_until(lambda: rows().get("cam4", {}).get("state") == "online", timeout=DEADLINE_S,
               what="cam4 online")
    assert rows()["cam4"]["node"] == fresh["node"]
    wait_until(lambda: subscriber.on(f"{PREFIX}/cam4/poses"), timeout=DEADLINE_S,
               what="cam4's poses")
    after = rows()
    assert all(after[n]["node"] == r["node"] for n, r in before.items())
    capsys.readouterr()
    # the table
    assert main(["fleet", "status"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["CAMERA", "NODE", "STATE"]
    assert {line.split()[0] for line in table[1:]} == {"cam1", "cam2", "cam3", "cam4"}
    # errors: one line, exit 2
    assert main(["fleet", "add", "cam4", "--url", camera.url]) == 2
    assert "already in the fleet" in capsys.readouterr().err
    assert main(["fleet", "remove", "nope"]) == 2
    assert "no camera named 'nope'" in capsys.readouterr().err
    # remove: gone from the fleet and from its node
    assert main(["fleet", "remove", "cam4"]) == 0
    assert "cam4" not in rows()
    wait_until(lambda: "cam4" not in node_infos()[fresh["node"]]["cameras"],
               timeout=DEADLINE_S, what="cam4 to leave its node")
    # a node left without cameras stops its pipeline
    wait_until(lambda: node_infos()[fresh["node"]]["pid"] is None, timeout=DEADLINE_S,
               what="the idle node's pipeline to stop")


def test_a_restarted_controller_keeps_healthy_cameras(cluster: Any) -> None:
    wait_until(all_online, timeout=DEADLINE_S, what="every camera online")
    before = {name: (info["pid"], info["starts"], tuple(sorted(info["cameras"])))
              for name, info in node_infos().items()}
    owners = {n: r["node"] for n, r in rows().items()}
    old = controller()
    ray.kill(old, no_restart=False)  # Ray restarts it (max_restarts)
    restored = wait_until(lambda: _restored(), timeout=DEADLINE_S,
                          what="the controller to restart")
    assert {r["camera"] for r in restored["cameras"]} == set(owners)
    wait_until(lambda: {n: r["node"] for n, r in rows().items()} == owners,
               timeout=DEADLINE_S, what="the owners rebuilt")
    time.sleep(3)  # a few rounds of the restarted controller's loop
    after = {name: (info["pid"], info["starts"], tuple(sorted(info["cameras"])))
             for name, info in node_infos().items()}
    assert after == before, "a healthy pipeline was restarted"


def _restored() -> dict[str, Any] | None:
    try:
        shown = view()
    except ray.exceptions.RayError:
        return None
    return shown if shown["restored"] else None


def test_down_stops_everything(cluster: Any, folder: Path) -> None:
    pids = [i["pid"] for i in node_infos().values() if i["pid"] is not None]
    assert pids
    assert main(["fleet", "down"]) == 0
    from streampose.fleet.cluster import controller_handle, existing_node_actors

    wait_until(lambda: controller_handle() is None, timeout=DEADLINE_S,
               what="the controller to go")
    wait_until(lambda: not existing_node_actors(), timeout=DEADLINE_S,
               what="the node actors to go")
    wait_until(lambda: not any(alive(p) for p in pids), timeout=DEADLINE_S,
               what="the pipelines to stop")
    assert main(["fleet", "status"]) == 2
    assert not list((folder / "work").glob("fleet-*.json"))
