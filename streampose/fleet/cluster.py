"""Everything that touches Ray: connecting, the named actors, the live nodes.

Ray is imported here (and in :mod:`streampose.fleet.controller`, which is only loaded
through this module) and nowhere else: ``streampose run`` never imports it.
:func:`require_ray` turns a missing Ray into one error line.

Names: every actor lives in the Ray namespace ``streampose``; the controller is
``controller`` (detached, restarted by Ray, pinned to the head node), each node
pipeline ``node-<node id>`` (detached, so a restarted controller finds it again; pinned
to its node with a hard node affinity, never restarted elsewhere).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streampose.errors import ConfigError

__all__ = ["CONTROLLER", "NAMESPACE", "LiveNode", "connect", "controller_handle",
           "live_nodes", "node_actor", "node_actor_name", "require_ray"]

log = logging.getLogger(__name__)

NAMESPACE = "streampose"
CONTROLLER = "controller"
NODE_PREFIX = "node-"
HEAD_RESOURCE = "node:__internal_head__"  # a resource only the head node has


def require_ray() -> Any:
    """The ``ray`` module; ConfigError (one line) when it is not installed."""
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError('streampose fleet needs Ray: pip install "streampose[cluster]"'
                          ) from None
    return ray


def connect(address: str | None) -> Any:
    """Connect this process to the Ray cluster at ``address`` (``HEAD:6379``; None:
    ``RAY_ADDRESS`` or the local one) in the ``streampose`` namespace."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    _check_reachable(target)
    try:
        ray.init(address=target,
                 namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False,
                 include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or os.environ.get("RAY_ADDRESS") or "the local machine"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot connect to the Ray cluster at {where}: {first} (start "
                          "it with `ray start --head`, or give --address HEAD:6379)"
                          ) from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` address that nothing answers on is one error line now (Ray itself
    would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", "local", ray://...: Ray answers quickly itself
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                      timeout=timeout_s):
            return
    except OSError as exc:
        raise ConfigError(f"cannot connect to the Ray cluster at {address}: "
                          f"{exc.strerror or exc} (start it with `ray start --head`, or "
                          "give --address HEAD:6379)") from None


@dataclass(frozen=True)
class LiveNode:
    """A live Ray node: its id (hex), a short name and its resources."""

    node_id: str
    name: str
    resources: dict[str, float]


def node_name(node_id: str, hostname: str) -> str:
    """``<host>-<first 6 hex digits of the node id>``: unique even with several Ray nodes
    on one machine, and safe in MQTT payloads and file names."""
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in hostname) or "node"
    return f"{host}-{node_id[:6]}"


def live_nodes() -> list[LiveNode]:
    """The nodes Ray reports alive now."""
    ray = require_ray()
    return [LiveNode(node_id=n["NodeID"], resources=dict(n.get("Resources") or {}),
                     name=node_name(n["NodeID"], n.get("NodeManagerHostname") or "node"))
            for n in ray.nodes() if n.get("Alive")]


def node_actor_name(node_id: str) -> str:
    return NODE_PREFIX + node_id


def node_actor(node: LiveNode, work_dir: str, run_args: Sequence[str]) -> Any:
    """The node pipeline actor of ``node``: the existing one, or a new one pinned to it.
    It takes one CPU slot (when the node has one) and all the node's GPUs."""
    ray = require_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from streampose.fleet.node import NodePipeline

    cpus = 1.0 if node.resources.get("CPU", 0.0) >= 1 else 0.0
    gpus = float(node.resources.get("GPU", 0.0))
    actor = ray.remote(NodePipeline).options(
        name=node_actor_name(node.node_id), namespace=NAMESPACE, get_if_exists=True,
        lifetime="detached", max_restarts=0, num_cpus=cpus, num_gpus=gpus,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node.node_id, soft=False))
    return actor.remote(node.node_id, node.name, os.path.join(work_dir, node.name),
                        list(run_args))


def existing_node_actors() -> dict[str, Any]:
    """The node pipeline actors alive now, by node id (after a controller restart)."""
    ray = require_ray()
    from ray.util import list_named_actors

    out = {}
    for entry in list_named_actors(all_namespaces=True):
        name = entry.get("name", "") if isinstance(entry, dict) else str(entry)
        if isinstance(entry, dict) and entry.get("namespace") != NAMESPACE:
            continue
        if name.startswith(NODE_PREFIX):
            try:
                out[name[len(NODE_PREFIX):]] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:  # died in between
                continue
    return out


def controller_handle() -> Any | None:
    """The fleet's controller, or None when no fleet is up."""
    ray = require_ray()
    try:
        return ray.get_actor(CONTROLLER, namespace=NAMESPACE)
    except ValueError:
        return None


def default_work_dir() -> str:
    """Where node pipelines keep their cameras file and log: ``$TMPDIR/streampose-fleet``
    on each node."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"streampose-fleet-{_user()}")


def _user() -> str:
    try:
        return str(os.getuid())
    except AttributeError:  # not POSIX
        return socket.gethostname()
