"""The controller's rounds against a fake Ray: placement, a lost node's cameras moved,
a node's return, add/remove, and a restarted controller that keeps what runs.

The real Ray is exercised by tests/fleet/test_cluster.py; here every round is driven by
hand (``reconcile()``), so the rules are checked without timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streampose.config.cameras_file import Camera
from streampose.fleet import cluster
from streampose.fleet.cluster import LiveNode
from streampose.fleet.controller import Controller


class ActorDied(Exception):
    pass


class Unavailable(ActorDied):
    pass


class Timeout(Exception):
    pass


class Exceptions:
    RayActorError = ActorDied
    ActorUnavailableError = Unavailable
    GetTimeoutError = Timeout


class Ref:
    def __init__(self, call: Any) -> None:
        self.call = call


class FakeRay:
    exceptions = Exceptions

    @staticmethod
    def get(ref: Ref, timeout: float | None = None) -> Any:
        return ref.call()

    @staticmethod
    def wait(refs: list[Ref], num_returns: int = 1, timeout: float | None = None
             ) -> tuple[list[Ref], list[Ref]]:
        return list(refs), []

    @staticmethod
    def kill(handle: Any) -> None:
        handle.dead = True


class FakeNodeActor:
    """Stands for a NodePipeline actor: records what it was given."""

    def __init__(self, node_id: str, running: tuple[str, ...] = ()) -> None:
        self.node_id, self.running = node_id, list(running)
        self.applies: list[list[str]] = []
        self.dead = False

    def __getattr__(self, method: str) -> Any:
        actor = self

        class Method:
            @staticmethod
            def remote(*args: Any) -> Ref:
                def call() -> Any:
                    if actor.dead:
                        raise ActorDied(actor.node_id)
                    return getattr(actor, "do_" + method)(*args)
                return Ref(call)
        return Method

    def do_ping(self) -> str:
        return self.node_id

    def do_assigned(self) -> list[str]:
        return list(self.running)

    def do_apply(self, cameras: list[Camera], settings: Any, max_streams: int) -> None:
        self.running = [c.name for c in cameras]
        self.applies.append(list(self.running))

    def do_figures(self) -> dict[str, Any]:
        return {c: {"state": "online", "fps_in": 5.0} for c in self.running}

    def do_stop(self) -> None:
        self.running = []


class FakeCluster:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("streampose.fleet.reconcile.FENCE_S", 0.0)
        self.alive: dict[str, LiveNode] = {}
        self.actors: dict[str, FakeNodeActor] = {}
        monkeypatch.setattr(cluster, "require_ray", lambda: FakeRay)
        monkeypatch.setattr(cluster, "live_nodes", lambda: list(self.alive.values()))
        monkeypatch.setattr(cluster, "existing_node_actors", lambda: {
            n: a for n, a in self.actors.items() if not a.dead})
        monkeypatch.setattr(cluster, "node_actor", self._create)

    def _create(self, node: LiveNode, work_dir: str, run_args: Any) -> FakeNodeActor:
        self.actors[node.node_id] = FakeNodeActor(node.node_id)
        return self.actors[node.node_id]

    def add(self, node_id: str, cpus: float = 1.0) -> None:
        self.alive[node_id] = LiveNode(node_id=node_id, name=f"host-{node_id}",
                                       resources={"CPU": cpus})

    def lose(self, node_id: str) -> None:
        del self.alive[node_id]
        self.actors[node_id].dead = True


def cams(*names: str) -> list[Camera]:
    return [Camera(name=n, url=f"rtsp://10.0.0.1/{n}") for n in names]


def controller(tmp_path: Path, names: tuple[str, ...] = ("a", "b", "c"), **kw: Any
               ) -> Controller:
    return Controller(fleet_id="f1", cameras=cams(*names), settings={"model": {"path":
                      Path("/m.onnx")}}, rule={"per_node": 2}, work_dir=str(tmp_path),
                      node_work_dir=str(tmp_path), watch=False, **kw)


def rounds(ctl: Controller, n: int = 3) -> dict[str, Any]:
    for _ in range(n):
        ctl.reconcile()
    return {r["camera"]: r for r in ctl.status()["cameras"]}


def test_places_moves_and_takes_a_returning_node(monkeypatch, tmp_path: Path) -> None:
    fake = FakeCluster(monkeypatch)
    fake.add("n1")
    fake.add("n2")
    fake.add("head", cpus=0)  # no capacity: no actor
    ctl = controller(tmp_path)
    rows = rounds(ctl)
    assert {r["node"] for r in rows.values()} == {"host-n1", "host-n2"}
    assert "head" not in fake.actors
    assert all(r["state"] == "online" for r in rows.values())
    on_n2 = fake.actors["n2"].running
    # n2 lost: its cameras go to n1 while it has room (capacity 2), the rest wait
    fake.lose("n2")
    rows = rounds(ctl)
    assert fake.actors["n1"].running == [c for c in "abc" if rows[c]["node"] == "host-n1"]
    assert len(fake.actors["n1"].running) == 2
    waiting = [c for c, r in rows.items() if r["state"] == "pending"]
    assert len(waiting) == 1 and waiting[0] in on_n2
    moved = [c for c in on_n2 if c not in waiting]
    for camera in moved:
        assert rows[camera]["moved_from"] == "host-n2"
    assert [e["camera"] for e in ctl.status()["history"] if e["event"] == "moved"] == moved
    # a new node: the waiting camera goes there; the others stay where they are
    fake.add("n3")
    rows = rounds(ctl)
    assert rows[waiting[0]]["node"] == "host-n3"
    assert fake.actors["n1"].applies[-1] == fake.actors["n1"].running
    # add and remove
    assert ctl.add(cams("d")[0]) is None
    assert ctl.add(cams("d")[0]) == "a camera named 'd' is already in the fleet"
    rows = rounds(ctl)
    assert rows["d"]["node"] == "host-n3"
    assert ctl.remove("a") is None
    assert "no camera named 'zz'" in (ctl.remove("zz") or "")
    rounds(ctl)
    assert all("a" not in a.running for a in fake.actors.values())
    # one owner, always
    owners = ctl.owners()
    assert all(len(o) == 1 for o in owners.values())


def test_a_restarted_controller_keeps_what_runs(monkeypatch, tmp_path: Path) -> None:
    fake = FakeCluster(monkeypatch)
    fake.add("n1")
    fake.add("n2")
    first = controller(tmp_path)
    rounds(first)
    assert first.add(cams("d")[0]) is None
    rounds(first)
    before = {n: list(a.running) for n, a in fake.actors.items()}
    applies = {n: len(a.applies) for n, a in fake.actors.items()}
    # Ray restarts the controller: same arguments, the cameras from its state file
    second = controller(tmp_path)
    assert second.restored and list(second.cameras) == ["a", "b", "c", "d"]
    rows = rounds(second)
    assert {n: a.running for n, a in fake.actors.items()} == before
    assert {n: len(a.applies) for n, a in fake.actors.items()} == applies, \
        "a healthy node was told to change"
    assert {r["node"] for r in rows.values()} == {"host-n1", "host-n2"}


def test_no_placement_before_an_existing_actor_has_answered(monkeypatch,
                                                            tmp_path: Path) -> None:
    fake = FakeCluster(monkeypatch)
    fake.add("n1")
    fake.add("n2")
    fake.actors["n2"] = FakeNodeActor("n2", running=("a", "b"))  # from before a restart
    fake.actors["n1"] = FakeNodeActor("n1")
    ctl = controller(tmp_path)
    real_wait = FakeRay.wait
    monkeypatch.setattr(FakeRay, "wait", staticmethod(
        lambda refs, num_returns=1, timeout=None: ([], refs)))
    rounds(ctl)
    assert fake.actors["n1"].applies == []  # n2 not heard yet: nothing placed
    monkeypatch.setattr(FakeRay, "wait", staticmethod(real_wait))
    rows = rounds(ctl)
    assert rows["a"]["node"] == rows["b"]["node"] == "host-n2"
    assert rows["c"]["node"] == "host-n1"
    assert fake.actors["n2"].applies == []  # its cameras were adopted as they run
