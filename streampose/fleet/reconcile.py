"""The fleet's rounds: the desired cameras, the owner of each, what each node was told.

One round (:meth:`Reconciler.round`):

1. the live nodes (``ray.nodes()``) and their node actors (:class:`NodeWatch`): a node
   that Ray reports dead, or whose actor died, is lost, and its cameras are orphans;
2. a live node with capacity and no actor gets one; while one is starting, or an actor
   found running (after a controller restart) has not said what it runs, nothing is
   placed: placement sees every node;
3. (``FENCE_S`` after a node was lost with cameras: the lost node's own actor stops its
   pipeline when its raylet goes, which Ray notices later than that) then
   :func:`streampose.fleet.assign.assign` gives every camera an owner (stable, least
   loaded first), and each node whose cameras changed gets them
   (:meth:`NodePipeline.apply`): first the nodes that only lose cameras, then those that
   gain some, so a camera is never given to a second live node before the first has
   dropped it;
4. an orphan placed on another node is ``moved`` (:class:`FleetStatus` says so on MQTT);
5. about once a second, each node's figures for :meth:`Reconciler.status`.

The desired cameras are saved in the :class:`StateFile` on every change; a restarted
controller rebuilds the owners from what each node actor says it runs
(:meth:`NodePipeline.assigned`) without touching a healthy camera.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from streampose.config.cameras_file import Camera
from streampose.fleet import cluster
from streampose.fleet.assign import CapacityRule, assign
from streampose.fleet.publish import FleetStatus
from streampose.fleet.store import StateFile, plain
from streampose.fleet.watch import CALL_TIMEOUT_S, Arrival, NodeWatch
from streampose.observe.camera_state import MOVED, ONLINE, PENDING, STARTING

__all__ = ["FENCE_S", "Reconciler"]

log = logging.getLogger(__name__)

FIGURES_EVERY_S = 1.0
FENCE_S = 1.0  # a lost node's cameras wait this long: its node actor stops them first
HISTORY = 1000  # ownership events kept (status --json, tests)


class Reconciler:
    """The fleet's state and its rounds (no thread: the actor's loop calls :meth:`round`).
    ``cameras``/``settings``: the fleet's cameras file, unless ``store`` has them (a
    restart); ``rule``: the capacity rule."""

    def __init__(self, *, fleet_id: str, cameras: Sequence[Camera],
                 settings: Mapping[str, Any], rule: CapacityRule, store: StateFile,
                 nodes: NodeWatch) -> None:
        self.fleet_id, self.store, self.nodes = fleet_id, store, nodes
        self.lock = threading.Lock()
        self.cameras: dict[str, Camera] = {c.name: c for c in cameras}
        self.settings = plain(settings)
        saved = store.load()
        self.restored = saved is not None
        if saved is not None:
            self.cameras, settings_saved = saved
            self.settings = settings_saved if settings_saved is not None else self.settings
        self.publish = FleetStatus(fleet_id=fleet_id, mqtt=self.settings.get("mqtt"))
        self.owner: dict[str, str | None] = dict.fromkeys(self.cameras)  # camera -> node id
        self.applied: dict[str, tuple[Camera, ...]] = {}  # node id -> what it was given
        self.lost_from: dict[str, str] = {}  # orphan camera -> the node it was lost with
        self.moved_from: dict[str, str] = {}  # camera -> the node it moved away from
        self.figures: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self._fenced_until = 0.0  # monotonic time until which a lost node's cameras wait
        self._next_figures = 0.0
        self.save()

    # -- the desired cameras ---------------------------------------------------------------

    def add(self, camera: Camera) -> str | None:
        """Add a camera; the error (one line) if its name is taken."""
        with self.lock:
            if camera.name in self.cameras:
                return f"a camera named {camera.name!r} is already in the fleet"
            self.cameras[camera.name] = camera
            self.owner.setdefault(camera.name, None)
            self.save()
        return None

    def remove(self, name: str) -> str | None:
        """Remove a camera; the error (one line) if there is none of that name."""
        with self.lock:
            if name not in self.cameras:
                known = ", ".join(self.cameras) or "none"
                return f"no camera named {name!r} in the fleet (cameras: {known})"
            del self.cameras[name]
            self.save()
        return None

    def save(self) -> None:
        self.store.save(list(self.cameras.values()), self.settings)

    # -- the view ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The fleet now: one row per camera, the nodes, the ownership history."""
        with self.lock:
            rows = [self._row(name) for name in self.cameras]
            nodes = [{"node": self.nodes.name(n), "node_id": n,
                      "capacity": self.nodes.capacity.get(n, 0),
                      "cameras": sorted(c for c, o in self.owner.items() if o == n)}
                     for n in self.nodes.handles]
            return {"fleet": self.fleet_id, "cameras": rows, "nodes": nodes,
                    "history": list(self.history), "restored": self.restored}

    def _row(self, name: str) -> dict[str, Any]:
        """One camera's row; its state is its node's (the pipeline's own state), extended
        with ``pending`` (no owner) and ``moved`` (its new owner has not shown it yet)."""
        node = self.owner.get(name)
        fig = dict(self.figures.get(name) or {}) if node is not None else {}
        state = fig.get("state", STARTING) if node is not None else PENDING
        if name in self.moved_from and state == STARTING:
            state = MOVED
        return {"camera": name, "node": self.nodes.name(node) if node else "-",
                "state": state, "fps_in": fig.get("fps_in"), "fps_out": fig.get("fps_out"),
                "dropped": fig.get("dropped"), "lag_p95": fig.get("lag_p95"),
                "reconnects": fig.get("reconnects"), "moved_from": self.moved_from.get(name)}

    # -- one round ---------------------------------------------------------------------------

    def round(self, *, wait: Callable[[float], object] | None = None) -> None:
        """One round (see the module's doc). ``wait(seconds)``: called while a lost node's
        cameras are fenced (the caller's loop sleeps and comes back)."""
        ray = cluster.require_ray()
        alive = {n.node_id: n for n in cluster.live_nodes()}
        for node_id in self.nodes.lost(ray, alive):
            self._lose(node_id)
        for arrival in self.nodes.arrivals(ray, alive):
            self._adopt(arrival)
        if self.nodes.unheard:  # a camera without an owner here may still run there
            return
        now = time.monotonic()
        if now < self._fenced_until:
            if wait is not None:
                wait(self._fenced_until - now)
            return
        if self.nodes.starting(now):
            return  # a node whose actor is starting: wait for it, so placement sees it
        self._place(ray)
        if time.monotonic() >= self._next_figures:
            self._next_figures = time.monotonic() + FIGURES_EVERY_S
            self._read_figures(ray)

    def _place(self, ray: Any) -> None:
        with self.lock:
            wanted = list(self.cameras)
            before = dict(self.owner)
            after = assign(wanted, self.nodes.capacity, before)
            self.owner = after
            given = {n: tuple(self.cameras[c] for c in wanted if after[c] == n)
                     for n in self.nodes.handles}
            settings = dict(self.settings)
        changed = {n: cams for n, cams in given.items() if cams != self.applied.get(n)}
        shrinking = [n for n, c in changed.items()
                     if {x.name for x in c} <= {x.name for x in self.applied.get(n, ())}]
        growing = [n for n in changed if n not in shrinking]
        for group in (shrinking, growing):
            self._apply(ray, {n: changed[n] for n in group}, settings)
        self._record_moves(before, after)

    def _lose(self, node_id: str) -> None:
        name = self.nodes.name(node_id)
        with self.lock:
            orphans = [c for c, o in self.owner.items() if o == node_id]
            for camera in orphans:
                self.owner[camera] = None
                self.lost_from[camera] = name
            self.nodes.forget(node_id)
            if orphans:
                self._fenced_until = time.monotonic() + FENCE_S
            self.applied.pop(node_id, None)
            self._event("node_lost", node=name, cameras=orphans)
        log.warning("fleet: node %s lost; cameras to move: %s", name,
                    ", ".join(orphans) or "none")

    def _adopt(self, arrival: Arrival) -> None:
        """Take a node actor in, with the cameras it already runs (after a controller
        restart) when they are wanted and have no other owner."""
        node_id, claimed = arrival.node.node_id, list(arrival.claimed)
        with self.lock:
            self.nodes.take(arrival)
            adopted = []
            for camera in claimed:
                if camera in self.cameras and self.owner.get(camera) is None:
                    self.owner[camera] = node_id
                    adopted.append(camera)
            self.applied[node_id] = tuple(self.cameras[c] for c in adopted) \
                if adopted == claimed else ()
            self._event("node_added", node=arrival.node.name, capacity=arrival.capacity,
                        cameras=adopted)
        log.info("fleet: node %s (capacity %d)%s", arrival.node.name, arrival.capacity,
                 f", running {', '.join(adopted)}" if adopted else "")

    def _apply(self, ray: Any, changes: Mapping[str, tuple[Camera, ...]],
               settings: Mapping[str, Any]) -> None:
        handles, capacity = self.nodes.handles, self.nodes.capacity
        refs = {n: handles[n].apply.remote(list(cams), settings, capacity[n])
                for n, cams in changes.items()}
        for node_id, ref in refs.items():
            try:
                ray.get(ref, timeout=CALL_TIMEOUT_S)
            except Exception as exc:  # retried next round
                log.warning("fleet: node %s did not take its cameras: %s",
                            self.nodes.name(node_id), exc)
                continue
            self.applied[node_id] = changes[node_id]

    def _record_moves(self, before: Mapping[str, str | None],
                      after: Mapping[str, str | None]) -> None:
        for camera, node in after.items():
            if node is None or before.get(camera) == node:
                continue
            source = self.lost_from.pop(camera, None)
            target = self.nodes.name(node)
            with self.lock:
                if source is not None:
                    self.moved_from[camera] = source
                    self.figures.pop(camera, None)
                self._event("moved" if source else "placed", camera=camera, node=target,
                            source=source)
            if source is not None:
                log.warning("fleet: camera %s moved from %s to %s", camera, source, target)
                self.publish.moved(camera, target, source)

    def _read_figures(self, ray: Any) -> None:
        figures: dict[str, dict[str, Any]] = {}
        for node_id, got in self.nodes.figures(ray).items():
            if got is None:  # no answer: kept from last time
                got = {c: f for c, f in self.figures.items() if self.owner.get(c) == node_id}
            figures.update({c: r for c, r in got.items() if self.owner.get(c) == node_id})
        with self.lock:
            self.figures = figures
            for camera, record in figures.items():
                if record.get("state") == ONLINE:
                    self.lost_from.pop(camera, None)

    def _event(self, kind: str, **fields: Any) -> None:
        self.history.append({"time": round(time.time(), 3), "event": kind, **fields})
        del self.history[:-HISTORY]
