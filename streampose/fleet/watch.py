"""The fleet's node actors: which live nodes have one, which are lost, their figures.

:class:`NodeWatch` knows nothing of cameras. Each round the controller asks it which
nodes are lost (Ray reports the node dead, or its actor died) and which have arrived (a
live node with capacity gets an actor pinned to it; an actor found running after a
controller restart is asked what it runs first), then takes the arrivals in
(:meth:`NodeWatch.take`) and drops the lost (:meth:`NodeWatch.forget`) under its own lock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streampose.fleet import cluster
from streampose.fleet.assign import CapacityRule, node_capacity

__all__ = ["CALL_TIMEOUT_S", "PING_TIMEOUT_S", "START_GRACE_S", "Arrival", "NodeWatch"]

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 30.0  # longest wait for a node actor to answer apply()
PING_TIMEOUT_S = 5.0
START_GRACE_S = 10.0  # placement waits this long at most for a node actor to start


@dataclass(frozen=True)
class Arrival:
    """A node whose actor has answered: its capacity and the cameras it says it runs."""

    node: cluster.LiveNode
    capacity: int
    handle: Any
    claimed: Sequence[str]


@dataclass
class _Starting:
    node: cluster.LiveNode
    capacity: int
    handle: Any
    answer: Any  # the ref of its assigned()
    since: float


class NodeWatch:
    """The node actors of the fleet. ``rule``: the capacity rule; ``work_dir``,
    ``run_args``: each new node actor's (:func:`streampose.fleet.cluster.node_actor`)."""

    def __init__(self, *, rule: CapacityRule, work_dir: str, run_args: Sequence[str]) -> None:
        self.rule, self.work_dir, self.run_args = rule, work_dir, list(run_args)
        self.handles: dict[str, Any] = {}  # node id -> actor handle
        self.names: dict[str, str] = {}  # node id -> node name
        self.capacity: dict[str, int] = {}  # node id -> cameras it takes
        self._starting: dict[str, _Starting] = {}
        self._unheard: set[str] = set()  # node actors found running, not heard yet
        self._slow: set[str] = set()  # node actors starting for longer than CALL_TIMEOUT_S

    def name(self, node_id: str) -> str:
        return self.names.get(node_id, node_id)

    @property
    def unheard(self) -> bool:
        """Whether an actor found running has not said what it runs yet (a camera
        without an owner here may still run there)."""
        return bool(self._unheard)

    def starting(self, now: float) -> bool:
        """Whether an actor is starting (placement waits at most ``START_GRACE_S``)."""
        return any(now - s.since < START_GRACE_S for s in self._starting.values())

    def lost(self, ray: Any, alive: Mapping[str, cluster.LiveNode]) -> list[str]:
        """The nodes gone since the last round: dead to Ray, or their actor died (slow or
        unreachable for now is not dead)."""
        lost = [n for n in self.handles if n not in alive]
        pings = {n: h.ping.remote() for n, h in self.handles.items() if n not in lost}
        for node_id, ref in pings.items():
            try:
                ray.get(ref, timeout=PING_TIMEOUT_S)
            except ray.exceptions.GetTimeoutError:
                continue
            except ray.exceptions.RayActorError as exc:
                if not isinstance(exc, _unavailable(ray)):
                    lost.append(node_id)
        return lost

    def forget(self, node_id: str) -> None:
        self.handles.pop(node_id, None)
        self.capacity.pop(node_id, None)

    def arrivals(self, ray: Any, alive: Mapping[str, cluster.LiveNode]) -> list[Arrival]:
        """Give every live node with capacity a pipeline actor; the nodes whose actor has
        answered since. A new actor is asked what it runs without waiting: a node whose
        actor is slow to start (or cannot start) never holds the others up."""
        for node_id in [n for n in self._starting if n not in alive]:
            del self._starting[node_id]
            self._unheard.discard(node_id)
        self._start_actors(alive)
        return [a for a in (self._answer(ray, n) for n in list(self._starting)) if a]

    def take(self, arrival: Arrival) -> None:
        node_id = arrival.node.node_id
        self.handles[node_id], self.names[node_id] = arrival.handle, arrival.node.name
        self.capacity[node_id] = arrival.capacity

    def figures(self, ray: Any) -> dict[str, dict[str, dict[str, Any]] | None]:
        """Each node's figures of its cameras (:meth:`NodePipeline.figures`); None for a
        node that did not answer."""
        refs = {n: h.figures.remote() for n, h in self.handles.items()}
        out: dict[str, dict[str, dict[str, Any]] | None] = {}
        for node_id, ref in refs.items():
            try:
                out[node_id] = ray.get(ref, timeout=PING_TIMEOUT_S)
            except Exception:
                out[node_id] = None
        return out

    def assigned(self, ray: Any, handles: Mapping[str, Any]) -> dict[str, list[str]]:
        """What each node actor of ``handles`` says it runs (a dead one: nothing)."""
        out: dict[str, list[str]] = {}
        for node_id, handle in handles.items():
            try:
                out[node_id] = list(ray.get(handle.assigned.remote(), timeout=PING_TIMEOUT_S))
            except Exception:
                continue
        return out

    def stop_all(self, ray: Any) -> None:
        """Stop every node pipeline (ours and any found running) and kill the actors."""
        handles = list(self.handles.values())
        for handle in cluster.existing_node_actors().values():
            if handle not in handles:
                handles.append(handle)
        refs = [h.stop.remote() for h in handles]
        with contextlib.suppress(Exception):
            ray.wait(refs, num_returns=len(refs), timeout=CALL_TIMEOUT_S + 15)
        for handle in handles:
            with contextlib.suppress(Exception):
                ray.kill(handle)

    def _start_actors(self, alive: Mapping[str, cluster.LiveNode]) -> None:
        existing: dict[str, Any] | None = None
        for node_id, node in alive.items():
            cap = node_capacity(node.resources, self.rule)
            if node_id in self.handles:
                self.capacity[node_id] = cap
                continue
            if cap <= 0 or node_id in self._starting:
                continue
            if existing is None:
                existing = cluster.existing_node_actors()
            handle = existing.get(node_id)
            if handle is None:
                handle = cluster.node_actor(node, self.work_dir, self.run_args)
            else:
                self._unheard.add(node_id)  # it may run cameras: hear it before placing
            self._starting[node_id] = _Starting(node, cap, handle, handle.assigned.remote(),
                                                time.monotonic())

    def _answer(self, ray: Any, node_id: str) -> Arrival | None:
        start = self._starting[node_id]
        ready, _ = ray.wait([start.answer], timeout=0)
        if not ready:
            if time.monotonic() - start.since > CALL_TIMEOUT_S and node_id not in self._slow:
                self._slow.add(node_id)
                log.warning("fleet: node %s: its pipeline actor has not started in %.0f s "
                            "(resources taken?); still waiting", start.node.name,
                            CALL_TIMEOUT_S)
            return None
        self._slow.discard(node_id)
        del self._starting[node_id]
        self._unheard.discard(node_id)
        try:
            claimed = ray.get(start.answer, timeout=PING_TIMEOUT_S)
        except Exception as exc:  # died while starting: a new one next round
            log.warning("fleet: node %s: its pipeline actor failed: %s", start.node.name, exc)
            return None
        return Arrival(start.node, start.capacity, start.handle, claimed)


def _unavailable(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's "actor unreachable for now" error (newer Rays), which is not a death."""
    found = getattr(ray.exceptions, "ActorUnavailableError", None)
    return (found,) if isinstance(found, type) else ()
