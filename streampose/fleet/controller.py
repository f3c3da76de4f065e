"""The fleet's controller: the Ray actor that answers the CLI and runs the rounds.

One detached, named Ray actor (:func:`start_controller`) runs
:class:`Controller`, a thin shell: a thread of its own calls
:meth:`streampose.fleet.reconcile.Reconciler.round` every ``poll_s`` (and at once after
a change), and the CLI's calls go to the same :class:`Reconciler`. The pieces:

- placement: :func:`streampose.fleet.assign.assign` (pure);
- the fleet's state and rounds: :mod:`streampose.fleet.reconcile`;
- the desired cameras on disk (kept across a controller restart by Ray):
  :mod:`streampose.fleet.store`;
- the node actors (lost, arrived, their figures): :mod:`streampose.fleet.watch`;
- the ``moved`` status on MQTT: :mod:`streampose.fleet.publish`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from streampose.config.cameras_file import Camera
from streampose.fleet import cluster
from streampose.fleet.assign import CapacityRule
from streampose.fleet.reconcile import Reconciler
from streampose.fleet.store import StateFile
from streampose.fleet.watch import CALL_TIMEOUT_S, NodeWatch

__all__ = ["CALL_TIMEOUT_S", "Controller", "start_controller"]

log = logging.getLogger(__name__)


class Controller:
    """The controller actor. ``cameras``/``settings``: the fleet's cameras file;
    ``fleet_id``: this ``fleet up``'s id (names the state file); ``rule``: the capacity
    rule's fields; ``run_args``: extra ``streampose run`` arguments for every node
    pipeline; ``watch``: run the reconciling thread (tests call :meth:`reconcile`)."""

    def __init__(self, *, fleet_id: str, cameras: Sequence[Camera],
                 settings: Mapping[str, Any], rule: Mapping[str, Any], work_dir: str,
                 node_work_dir: str, run_args: Sequence[str] = (),
                 poll_s: float = 0.5, watch: bool = True) -> None:
        self.fleet_id, self.poll_s = fleet_id, poll_s
        capacity = CapacityRule(**rule)
        self.fleet = Reconciler(
            fleet_id=fleet_id, cameras=cameras, settings=settings, rule=capacity,
            store=StateFile(fleet_id=fleet_id, work_dir=work_dir),
            nodes=NodeWatch(rule=capacity, work_dir=node_work_dir, run_args=run_args))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fleet-controller",
                                        daemon=True)
        if watch:  # (tests drive reconcile() themselves)
            self._thread.start()

    @property
    def cameras(self) -> dict[str, Camera]:
        return self.fleet.cameras

    @property
    def restored(self) -> bool:
        return self.fleet.restored

    # -- the CLI's calls ------------------------------------------------------------------

    def ping(self) -> str:
        return self.fleet_id

    def add(self, camera: Camera) -> str | None:
        """Add a camera; the error (one line) if its name is taken."""
        return self._changed(self.fleet.add(camera))

    def remove(self, name: str) -> str | None:
        """Remove a camera; the error (one line) if there is none of that name."""
        return self._changed(self.fleet.remove(name))

    def status(self) -> dict[str, Any]:
        """The fleet now: one row per camera, the nodes, the ownership history."""
        return self.fleet.status()

    def owners(self) -> dict[str, list[str]]:
        """Each camera's owners as the node actors themselves report them (a test of
        "one owner": every list has at most one node)."""
        nodes = self.fleet.nodes
        with self.fleet.lock:
            handles = dict(nodes.handles)
        out: dict[str, list[str]] = {name: [] for name in self.fleet.cameras}
        for node_id, names in nodes.assigned(cluster.require_ray(), handles).items():
            for name in names:
                out.setdefault(name, []).append(nodes.name(node_id))
        return out

    def shutdown(self) -> None:
        """Stop the loop and every node pipeline, and forget the state (``fleet down``)."""
        ray = cluster.require_ray()
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CALL_TIMEOUT_S)
        self.fleet.nodes.stop_all(ray)
        self.fleet.store.remove()
        self.fleet.publish.close()

    # -- the loop -----------------------------------------------------------------------

    def reconcile(self) -> None:
        """One round (:meth:`Reconciler.round`)."""
        self.fleet.round(wait=self._fenced)

    def _changed(self, error: str | None) -> str | None:
        if error is None:
            self._wake.set()
        return error

    def _fenced(self, seconds: float) -> None:
        """A lost node's cameras wait: come back as soon as the wait is over."""
        self._wake.set()
        time.sleep(min(self.poll_s, seconds))

    def _loop(self) -> None:
        self.fleet.publish.connect()
        while not self._stop.is_set():
            try:
                self.reconcile()
            except Exception:  # keep watching: the next round may succeed
                log.exception("fleet controller: reconcile failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()


def start_controller(**kwargs: Any) -> Any:
    """Start the detached controller on the head node (Ray restarts it if it dies)."""
    ray = cluster.require_ray()
    actor = ray.remote(Controller).options(
        name=cluster.CONTROLLER, namespace=cluster.NAMESPACE, lifetime="detached",
        max_restarts=-1, max_task_retries=3, num_cpus=0,
        resources={cluster.HEAD_RESOURCE: 0.001})
    return actor.remote(**kwargs)
