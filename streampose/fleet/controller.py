"""The fleet's controller: the desired cameras, the owner of each, the node pipelines.

One detached, named Ray actor (:func:`streampose.fleet.cluster.start_controller`) runs
:class:`Controller`. A thread of its own reconciles every ``poll_s``:

1. the live nodes (``ray.nodes()``) and their node actors: a node that Ray reports dead,
   or whose actor died, is lost, and its cameras are orphans;
2. a live node with capacity and no actor gets one (pinned to it); while one is
   starting (at most ``START_GRACE_S``), or an actor found running (after a controller
   restart) has not said what it runs, nothing is placed: placement sees every node;
3. (``FENCE_S`` after a node was lost with cameras: the lost node's own actor stops its
   pipeline when its raylet goes, which Ray notices later than that) then
   :func:`streampose.fleet.assign.assign` gives every camera an owner (stable, least
   loaded first), and each node whose cameras changed gets them (:meth:`NodePipeline.apply`):
   first the nodes that only lose cameras, then those that gain some, so a camera is
   never given to a second live node before the first has dropped it;
4. an orphan placed on another node is ``moved``: the controller says so on
   ``<prefix>/<camera>/status`` (retained, QoS 1, with the new node) when the fleet has
   an ``[mqtt]`` URL;
5. about once a second, each node's figures for ``status``.

The desired cameras live in a state file on the head (``work_dir/fleet-<id>.json``), so
a controller restarted by Ray (``max_restarts``) keeps the cameras added or removed
since ``fleet up``; it rebuilds the owners from what each node actor says it runs
(:meth:`NodePipeline.assigned`) without touching a healthy camera.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from streampose.config.cameras import Camera
from streampose.fleet import cluster
from streampose.fleet.assign import CapacityRule, assign
from streampose.observe.camera_state import MOVED

__all__ = ["CALL_TIMEOUT_S", "Controller"]

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 30.0  # longest wait for a node actor to answer apply()
PING_TIMEOUT_S = 5.0
FIGURES_EVERY_S = 1.0
START_GRACE_S = 10.0  # placement waits this long at most for a node actor to start
FENCE_S = 1.0  # a lost node's cameras wait this long: its node actor stops them first
HISTORY = 1000  # ownership events kept (status --json, tests)


class Controller:
    """The controller's state and loop. ``cameras``/``settings``: the fleet's cameras
    file; ``fleet_id``: this ``fleet up``'s id (names the state file); ``rule``: the
    capacity rule's fields; ``run_args``: extra ``streampose run`` arguments for every
    node pipeline; ``watch``: run the reconciling thread (tests call :meth:`reconcile`)."""

    def __init__(self, *, fleet_id: str, cameras: Sequence[Camera],
                 settings: Mapping[str, Any], rule: Mapping[str, Any], work_dir: str,
                 node_work_dir: str, run_args: Sequence[str] = (),
                 poll_s: float = 0.5, watch: bool = True) -> None:
        self.fleet_id, self.poll_s = fleet_id, poll_s
        self.rule = CapacityRule(**rule)
        self.node_work_dir, self.run_args = node_work_dir, list(run_args)
        self.state_file = Path(work_dir) / f"fleet-{fleet_id}.json"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.cameras: dict[str, Camera] = {c.name: c for c in cameras}
        self.settings = plain(settings)
        self.restored = self._restore()
        self.owner: dict[str, str | None] = dict.fromkeys(self.cameras)  # camera -> node id
        self.nodes: dict[str, Any] = {}  # node id -> actor handle
        self.names: dict[str, str] = {}  # node id -> node name
        self.capacity: dict[str, int] = {}  # node id -> cameras it takes
        self.applied: dict[str, tuple[Camera, ...]] = {}  # node id -> what it was given
        self.lost_from: dict[str, str] = {}  # orphan camera -> the node it was lost with
        self.moved_from: dict[str, str] = {}  # camera -> the node it moved away from
        self.figures: dict[str, dict[str, Any]] = {}
        # node id -> (node, capacity, actor, its answer to assigned(), since): starting
        self._starting: dict[str, tuple[cluster.LiveNode, int, Any, Any, float]] = {}
        self._unheard: set[str] = set()  # live node actors found running, not heard yet
        self._fenced_until = 0.0  # monotonic time until which a lost node's cameras wait
        self._slow: set[str] = set()  # node actors starting for longer than CALL_TIMEOUT_S
        self.history: list[dict[str, Any]] = []
        self._next_figures = 0.0
        self._publisher: Any = None
        self._save()
        self._thread = threading.Thread(target=self._loop, name="fleet-controller",
                                        daemon=True)
        if watch:  # (tests drive reconcile() themselves)
            self._thread.start()

    # -- the CLI's calls ------------------------------------------------------------------

    def ping(self) -> str:
        return self.fleet_id

    def add(self, camera: Camera) -> str | None:
        """Add a camera; the error (one line) if its name is taken."""
        with self._lock:
            if camera.name in self.cameras:
                return f"a camera named {camera.name!r} is already in the fleet"
            self.cameras[camera.name] = camera
            self.owner.setdefault(camera.name, None)
            self._save()
        self._wake.set()
        return None

    def remove(self, name: str) -> str | None:
        """Remove a camera; the error (one line) if there is none of that name."""
        with self._lock:
            if name not in self.cameras:
                known = ", ".join(self.cameras) or "none"
                return f"no camera named {name!r} in the fleet (cameras: {known})"
            del self.cameras[name]
            self._save()
        self._wake.set()
        return None

    def status(self) -> dict[str, Any]:
        """The fleet now: one row per camera, the nodes, the ownership history."""
        with self._lock:
            rows = []
            for name in self.cameras:
                node = self.owner.get(name)
                fig = dict(self.figures.get(name) or {}) if node is not None else {}
                state = fig.get("state", "starting") if node is not None else "pending"
                if name in self.moved_from and state == "starting":
                    state = MOVED
                rows.append({
                    "camera": name, "node": self.names.get(node, "-") if node else "-",
                    "state": state, "fps_in": fig.get("fps_in"), "fps_out": fig.get("fps_out"),
                    "dropped": fig.get("dropped"), "lag_p95": fig.get("lag_p95"),
                    "reconnects": fig.get("reconnects"),
                    "moved_from": self.moved_from.get(name)})
            nodes = [{"node": self.names.get(n, n), "node_id": n,
                      "capacity": self.capacity.get(n, 0),
                      "cameras": sorted(c for c, o in self.owner.items() if o == n)}
                     for n in self.nodes]
            return {"fleet": self.fleet_id, "cameras": rows, "nodes": nodes,
                    "history": list(self.history), "restored": self.restored}

    def owners(self) -> dict[str, list[str]]:
        """Each camera's owners as the node actors themselves report them (a test of
        "one owner": every list has at most one node)."""
        ray = cluster.require_ray()
        with self._lock:
            nodes = dict(self.nodes)
        out: dict[str, list[str]] = {name: [] for name in self.cameras}
        for node_id, handle in nodes.items():
            try:
                names = ray.get(handle.assigned.remote(), timeout=PING_TIMEOUT_S)
            except Exception:  # a dead node owns nothing
                continue
            for name in names:
                out.setdefault(name, []).append(self.names.get(node_id, node_id))
        return out

    def shutdown(self) -> None:
        """Stop the loop and every node pipeline, and forget the state (``fleet down``)."""
        ray = cluster.require_ray()
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CALL_TIMEOUT_S)
        handles = list(self.nodes.values())
        for handle in cluster.existing_node_actors().values():
            if handle not in handles:
                handles.append(handle)
        refs = [h.stop.remote() for h in handles]
        with contextlib.suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=CALL_TIMEOUT_S + 15)
        for handle in handles:
            with contextlib.suppress(Exception):
                ray.kill(handle)
        with contextlib.suppress(OSError):
            self.state_file.unlink()
        if self._publisher is not None:
            self._publisher.stop(flush_s=2.0)

    # -- state file ---------------------------------------------------------------------

    def _restore(self) -> bool:
        """Read the desired cameras back after a restart; False on a first start."""
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        self.cameras = {c["name"]: Camera(**c) for c in data.get("cameras", [])}
        self.settings = data.get("settings", self.settings)
        log.info("controller restarted: %d cameras from %s", len(self.cameras),
                 self.state_file)
        return True

    def _save(self) -> None:
        data = {"fleet": self.fleet_id, "settings": self.settings,
                "cameras": [asdict(c) for c in self.cameras.values()]}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # -- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        url = (self.settings.get("mqtt") or {}).get("url")
        if url:
            try:
                self._mqtt(url)
            except Exception as exc:  # MQTT never stops the fleet
                log.warning("fleet: no MQTT: %s", exc)
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # keep watching: the next round may succeed
                log.exception("fleet controller: reconcile failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def reconcile(self) -> None:
        """One round: nodes lost and found, the assignment, the nodes told, figures."""
        ray = cluster.require_ray()
        alive = {n.node_id: n for n in cluster.live_nodes()}
        self._drop_lost(ray, alive)
        self._add_nodes(ray, alive)
        if self._unheard:  # a camera without an owner here may still run there
            return
        now = time.monotonic()
        if now < self._fenced_until:
            self._wake.set()  # come back as soon as the wait is over
            time.sleep(min(self.poll_s, self._fenced_until - now))
            return
        if any(now - entry[4] < START_GRACE_S for entry in self._starting.values()):
            return  # a node whose actor is starting: wait for it, so placement sees it
        with self._lock:
            wanted = list(self.cameras)
            before = dict(self.owner)
            after = assign(wanted, self.capacity, before)
            self.owner = after
            given = {n: tuple(self.cameras[c] for c in wanted if after[c] == n)
                     for n in self.nodes}
            settings = dict(self.settings)
        changed = {n: cams for n, cams in given.items() if cams != self.applied.get(n)}
        shrinking = [n for n, c in changed.items()
                     if {x.name for x in c} <= {x.name for x in self.applied.get(n, ())}]
        growing = [n for n in changed if n not in shrinking]
        for group in (shrinking, growing):
            self._apply(ray, {n: changed[n] for n in group}, settings)
        self._record_moves(before, after)
        if time.monotonic() >= self._next_figures:
            self._next_figures = time.monotonic() + FIGURES_EVERY_S
            self._read_figures(ray)

    def _drop_lost(self, ray: Any, alive: Mapping[str, cluster.LiveNode]) -> None:
        lost = [n for n in self.nodes if n not in alive]
        pings = {n: h.ping.remote() for n, h in self.nodes.items() if n not in lost}
        for node_id, ref in pings.items():
            try:
                ray.get(ref, timeout=PING_TIMEOUT_S)
            except ray.exceptions.GetTimeoutError:
                continue  # slow is not dead: Ray says when a node or an actor is dead
            except ray.exceptions.RayActorError as exc:
                if not isinstance(exc, _unavailable()):  # unreachable for now is not dead
                    lost.append(node_id)
        for node_id in lost:
            self._lose(node_id)

    def _lose(self, node_id: str) -> None:
        name = self.names.get(node_id, node_id)
        with self._lock:
            orphans = [c for c, o in self.owner.items() if o == node_id]
            for camera in orphans:
                self.owner[camera] = None
                self.lost_from[camera] = name
            self.nodes.pop(node_id, None)
            if orphans:
                self._fenced_until = time.monotonic() + FENCE_S
            self.capacity.pop(node_id, None)
            self.applied.pop(node_id, None)
            self._event("node_lost", node=name, cameras=orphans)
        log.warning("fleet: node %s lost; cameras to move: %s", name,
                    ", ".join(orphans) or "none")

    def _add_nodes(self, ray: Any, alive: Mapping[str, cluster.LiveNode]) -> None:
        """Give every live node with capacity a pipeline actor. A new actor is asked what
        it runs without waiting: its answer is taken in a later round, so a node whose
        actor is slow to start (or cannot start) never holds the others up."""
        for node_id in [n for n in self._starting if n not in alive]:
            del self._starting[node_id]
            self._unheard.discard(node_id)
        existing: dict[str, Any] | None = None
        for node_id, node in alive.items():
            cap = cluster_capacity(node, self.rule)
            if node_id in self.nodes:
                self.capacity[node_id] = cap
                continue
            if cap <= 0 or node_id in self._starting:
                continue
            if existing is None:
                existing = cluster.existing_node_actors()
            handle = existing.get(node_id)
            if handle is None:
                handle = cluster.node_actor(node, self.node_work_dir, self.run_args)
            else:
                self._unheard.add(node_id)  # it may run cameras: hear it before placing
            self._starting[node_id] = (node, cap, handle, handle.assigned.remote(),
                                       time.monotonic())
        for node_id, (node, cap, handle, ref, since) in list(self._starting.items()):
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                if time.monotonic() - since > CALL_TIMEOUT_S and node_id not in self._slow:
                    self._slow.add(node_id)
                    log.warning("fleet: node %s: its pipeline actor has not started in "
                                "%.0f s (resources taken?); still waiting", node.name,
                                CALL_TIMEOUT_S)
                continue
            self._slow.discard(node_id)
            del self._starting[node_id]
            self._unheard.discard(node_id)
            try:
                claimed = ray.get(ref, timeout=PING_TIMEOUT_S)
            except Exception as exc:  # died while starting: a new one next round
                log.warning("fleet: node %s: its pipeline actor failed: %s", node.name, exc)
                continue
            self._adopt(node, cap, handle, claimed)

    def _adopt(self, node: cluster.LiveNode, cap: int, handle: Any,
               claimed: Sequence[str]) -> None:
        """Take a node actor in, with the cameras it already runs (after a controller
        restart) when they are wanted and have no other owner."""
        node_id = node.node_id
        with self._lock:
            self.nodes[node_id], self.names[node_id] = handle, node.name
            self.capacity[node_id] = cap
            adopted = []
            for camera in claimed:
                if camera in self.cameras and self.owner.get(camera) is None:
                    self.owner[camera] = node_id
                    adopted.append(camera)
            self.applied[node_id] = tuple(self.cameras[c] for c in adopted) \
                if adopted == list(claimed) else ()
            self._event("node_added", node=node.name, capacity=cap, cameras=adopted)
        log.info("fleet: node %s (capacity %d)%s", node.name, cap,
                 f", running {', '.join(adopted)}" if adopted else "")

    def _apply(self, ray: Any, changes: Mapping[str, tuple[Camera, ...]],
               settings: Mapping[str, Any]) -> None:
        refs = {n: self.nodes[n].apply.remote(list(cams), settings, self.capacity[n])
                for n, cams in changes.items()}
        for node_id, ref in refs.items():
            try:
                ray.get(ref, timeout=CALL_TIMEOUT_S)
            except Exception as exc:  # retried next round
                log.warning("fleet: node %s did not take its cameras: %s",
                            self.names.get(node_id, node_id), exc)
                continue
            self.applied[node_id] = changes[node_id]

    def _record_moves(self, before: Mapping[str, str | None],
                      after: Mapping[str, str | None]) -> None:
        for camera, node in after.items():
            if node is None or before.get(camera) == node:
                continue
            source = self.lost_from.pop(camera, None)
            target = self.names.get(node, node)
            with self._lock:
                if source is not None:
                    self.moved_from[camera] = source
                    self.figures.pop(camera, None)
                self._event("moved" if source else "placed", camera=camera, node=target,
                            source=source)
            if source is not None:
                log.warning("fleet: camera %s moved from %s to %s", camera, source, target)
                self._publish_moved(camera, target, source)

    def _read_figures(self, ray: Any) -> None:
        refs = {n: h.figures.remote() for n, h in self.nodes.items()}
        figures: dict[str, dict[str, Any]] = {}
        for node_id, ref in refs.items():
            try:
                got = ray.get(ref, timeout=PING_TIMEOUT_S)
            except Exception:  # kept from last time
                got = {c: f for c, f in self.figures.items()
                       if self.owner.get(c) == node_id}
            for camera, record in got.items():
                if self.owner.get(camera) == node_id:
                    figures[camera] = record
        with self._lock:
            self.figures = figures
            for camera, record in figures.items():
                if record.get("state") == "online":
                    self.lost_from.pop(camera, None)

    def _event(self, kind: str, **fields: Any) -> None:
        self.history.append({"time": round(time.time(), 3), "event": kind, **fields})
        del self.history[:-HISTORY]

    # -- MQTT ---------------------------------------------------------------------------

    def _publish_moved(self, camera: str, node: str, source: str) -> None:
        url = (self.settings.get("mqtt") or {}).get("url")
        if not url:
            return
        try:
            publisher = self._mqtt(url)
            payload = json.dumps({"camera": camera, "state": MOVED, "node": node,
                                  "from": source, "time": round(time.time(), 3)},
                                 separators=(",", ":"))
            publisher.publish(publisher.url.topic(camera, "status"), payload, qos=1,
                              retain=True)
        except Exception as exc:  # MQTT never stops the fleet
            log.warning("fleet: cannot say %s moved over MQTT: %s", camera, exc)

    def _mqtt(self, url: str) -> Any:
        if self._publisher is None:
            from streampose.mqtt.client import Publisher
            from streampose.mqtt.url import parse_broker_url

            mqtt = self.settings.get("mqtt") or {}
            ca = mqtt.get("ca_file")
            publisher = Publisher(parse_broker_url(url), client_id=f"streampose-fleet-"
                                  f"{self.fleet_id[:8]}-{os.getpid()}",
                                  ca_file=Path(ca) if ca else None, what="fleet MQTT")
            publisher.start(float(mqtt.get("connect_timeout_s", 5.0)), warn=True)
            self._publisher = publisher
        return self._publisher


def _unavailable() -> tuple[type[BaseException], ...]:
    """Ray's "actor unreachable for now" error (newer Rays), which is not a death."""
    ray = cluster.require_ray()
    found = getattr(ray.exceptions, "ActorUnavailableError", None)
    return (found,) if isinstance(found, type) else ()


def plain(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as JSON values (paths as strings, tuples as lists): the same after
    the state file's round trip, so a restarted controller gives the nodes settings
    equal to those they run (no restart)."""
    return dict(json.loads(json.dumps(dict(settings), default=str)))


def cluster_capacity(node: cluster.LiveNode, rule: CapacityRule) -> int:
    from streampose.fleet.assign import node_capacity

    return node_capacity(node.resources, rule)
