"""Which node runs which camera: pure functions, no Ray.

The controller calls :func:`assign` whenever the cameras or the live nodes change:

- **capacity**: each node takes at most its capacity (:func:`node_capacity`: a setting,
  else from its resources: GPUs, or CPUs on a CPU box); a node with none runs nothing;
- **stable**: a camera whose node is still alive stays there, even when another node
  has more room (a healthy camera is never moved to rebalance), and even when the
  node's capacity has since dropped below its load;
- **re-done on loss**: a camera without a live node (new, or orphaned by a node that
  died) goes to the least-loaded node with room, one camera at a time in the order the
  cameras are listed, so a lost node's cameras spread over the survivors; with no room
  anywhere it waits (``None``) and is placed as soon as a node has room (a node that
  comes back, or a new one);
- **one owner**: the result maps each camera to one node or to none.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CapacityRule", "Move", "assign", "moves", "node_capacity"]


@dataclass(frozen=True)
class CapacityRule:
    """How many cameras a node takes. ``per_node`` (when set) is the same for every node
    that has a CPU or a GPU; else ``per_gpu`` times its GPUs when it has any, else
    ``per_cpu`` times its CPUs (rounded down)."""

    per_node: int | None = None
    per_cpu: float = 4.0
    per_gpu: int = 16

    def __post_init__(self) -> None:
        if self.per_node is not None and self.per_node < 0:
            raise ValueError(f"cameras per node must be >= 0, not {self.per_node}")
        if self.per_cpu < 0 or self.per_gpu < 0:
            raise ValueError("cameras per CPU and per GPU must be >= 0")


def node_capacity(resources: Mapping[str, float], rule: CapacityRule) -> int:
    """The number of cameras a node with these Ray resources (``{"CPU": 8, "GPU": 1,
    ...}``) takes under ``rule``; 0 for a node without CPUs and GPUs (a head started
    with ``--num-cpus 0``)."""
    gpus = float(resources.get("GPU", 0.0))
    cpus = float(resources.get("CPU", 0.0))
    if gpus <= 0 and cpus <= 0:
        return 0
    if rule.per_node is not None:
        return rule.per_node
    if gpus > 0:
        return math.floor(rule.per_gpu * gpus)
    return math.floor(rule.per_cpu * cpus + 1e-9)


def assign(cameras: Sequence[str], capacity: Mapping[str, int],
           current: Mapping[str, str | None]) -> dict[str, str | None]:
    """The new owner of every camera in ``cameras`` (listed order).

    ``capacity``: the live nodes and how many cameras each takes; ``current``: each
    camera's node now (None or a node not in ``capacity``: it has none). Cameras not in
    ``cameras`` are dropped; the others keep a live node, or get the least-loaded node
    with room (load / capacity, then fewer cameras, then the node's name), or None.
    """
    wanted = list(dict.fromkeys(cameras))
    owner: dict[str, str | None] = {}
    load = dict.fromkeys(capacity, 0)
    for camera in wanted:
        node = current.get(camera)
        if node is not None and node in capacity:
            owner[camera] = node
            load[node] += 1
    for camera in wanted:
        if camera in owner:
            continue
        room = [n for n, cap in capacity.items() if load[n] < cap]
        if not room:
            owner[camera] = None
            continue
        node = min(room, key=lambda n: (load[n] / capacity[n], load[n], n))
        owner[camera] = node
        load[node] += 1
    return {camera: owner[camera] for camera in wanted}


@dataclass(frozen=True)
class Move:
    """A camera that changes hands: ``source`` None for a new (or waiting) camera,
    ``target`` None for one removed or left waiting."""

    camera: str
    source: str | None
    target: str | None


def moves(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> list[Move]:
    """The cameras whose node differs between two assignments (cameras only in one count
    as coming from / going to None), in ``before``'s order then ``after``'s."""
    names: Iterable[str] = dict.fromkeys([*before, *after])
    return [Move(c, before.get(c), after.get(c)) for c in names
            if before.get(c) != after.get(c)]
