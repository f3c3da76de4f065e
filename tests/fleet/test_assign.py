"""The assignment rules, table by table: capacity, stability, loss, return, one owner."""

from __future__ import annotations

import pytest

from streampose.fleet.assign import CapacityRule, Move, assign, moves, node_capacity

CAMS = ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(("resources", "rule", "expected"), [
    ({"CPU": 1.0}, CapacityRule(), 4),
    ({"CPU": 8.0}, CapacityRule(per_cpu=0.5), 4),
    ({"CPU": 3.0}, CapacityRule(per_cpu=1.5), 4),  # rounded down
    ({"CPU": 16.0, "GPU": 2.0}, CapacityRule(), 32),  # GPUs win over CPUs
    ({"CPU": 16.0, "GPU": 1.0}, CapacityRule(per_gpu=8), 8),
    ({"CPU": 2.0}, CapacityRule(per_node=10), 10),  # the setting wins
    ({"GPU": 1.0}, CapacityRule(per_node=3), 3),
    ({"CPU": 0.0}, CapacityRule(per_node=10), 0),  # a head started with --num-cpus 0
    ({"memory": 1e9}, CapacityRule(), 0),
], ids=lambda v: str(v))
def test_node_capacity(resources, rule, expected) -> None:
    assert node_capacity(resources, rule) == expected


def test_a_negative_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="per node"):
        CapacityRule(per_node=-1)


@pytest.mark.parametrize(("cameras", "capacity", "current", "expected"), [
    # first placement: least loaded first, ties by name, spread over the nodes
    (CAMS[:3], {"n1": 4, "n2": 4}, {}, {"a": "n1", "b": "n2", "c": "n1"}),
    # the relative load counts: n2 takes twice as many
    (CAMS[:3], {"n1": 2, "n2": 4}, {}, {"a": "n1", "b": "n2", "c": "n2"}),
    # capacity is a hard limit: the rest wait
    (CAMS[:3], {"n1": 1}, {}, {"a": "n1", "b": None, "c": None}),
    (CAMS[:2], {}, {}, {"a": None, "b": None}),
    # stable: healthy cameras stay even though n2 is empty (no rebalancing) ...
    (CAMS[:3], {"n1": 4, "n2": 4}, {"a": "n1", "b": "n1", "c": "n1"},
     {"a": "n1", "b": "n1", "c": "n1"}),
    # ... and even above a capacity that has since shrunk
    (CAMS[:3], {"n1": 1, "n2": 4}, {"a": "n1", "b": "n1", "c": "n1"},
     {"a": "n1", "b": "n1", "c": "n1"}),
    # a node lost (n2 not alive): its cameras go to the least-loaded survivors
    (CAMS, {"n1": 4, "n3": 4}, {"a": "n1", "b": "n2", "c": "n3", "d": "n3", "e": "n2"},
     {"a": "n1", "b": "n1", "c": "n3", "d": "n3", "e": "n1"}),
    # ... and wait when the survivors are full
    (CAMS[:3], {"n1": 2}, {"a": "n1", "b": "n2", "c": "n2"},
     {"a": "n1", "b": "n1", "c": None}),
    # a node comes back: the waiting camera goes there, the others stay
    (CAMS[:3], {"n1": 2, "n2": 2}, {"a": "n1", "b": "n1", "c": None},
     {"a": "n1", "b": "n1", "c": "n2"}),
    # a new camera goes to the least-loaded node (the one that came back)
    (CAMS[:4], {"n1": 4, "n2": 4}, {"a": "n1", "b": "n1", "c": "n2"},
     {"a": "n1", "b": "n1", "c": "n2", "d": "n2"}),
    # a removed camera is dropped and frees its slot
    (["a", "c"], {"n1": 1, "n2": 1}, {"a": "n1", "b": "n2", "c": None},
     {"a": "n1", "c": "n2"}),
    # a node with no capacity takes nothing
    (CAMS[:2], {"head": 0, "n1": 4}, {}, {"a": "n1", "b": "n1"}),
], ids=[f"case{i}" for i in range(12)])
def test_assign(cameras, capacity, current, expected) -> None:
    got = assign(cameras, capacity, current)
    assert got == expected
    assert list(got) == list(dict.fromkeys(cameras))


def test_one_owner_and_capacity_whatever_happens() -> None:
    """Random rounds of nodes dying, returning and cameras coming and going: every
    camera has at most one node, placed cameras never exceed a node's capacity unless
    they were already there, and a camera on a live node never moves."""
    import random

    rnd = random.Random(12)
    nodes = {f"n{i}": rnd.randint(0, 4) for i in range(5)}
    current: dict[str, str | None] = {}
    cameras = [f"c{i}" for i in range(12)]
    for _ in range(300):
        alive = {n: c for n, c in nodes.items() if rnd.random() < 0.7}
        wanted = [c for c in cameras if rnd.random() < 0.9]
        new = assign(wanted, alive, current)
        assert set(new) == set(wanted)
        for camera, node in new.items():
            if current.get(camera) in alive:
                assert node == current[camera], "a healthy camera moved"
        newly = [c for c, n in new.items() if n is not None and current.get(c) != n]
        for node, cap in alive.items():
            mine = [c for c, n in new.items() if n == node]
            if any(c in newly for c in mine):
                assert len(mine) <= cap
        current = dict(new)


def test_moves() -> None:
    before = {"a": "n1", "b": "n2", "c": None}
    after = {"a": "n1", "b": "n1", "c": "n2", "d": None}
    assert moves(before, after) == [Move("b", "n2", "n1"), Move("c", None, "n2")]
    assert moves(after, {"a": "n1"}) == [Move("b", "n1", None), Move("c", "n2", None)]
