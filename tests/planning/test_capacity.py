"""capacity: every ring and queue size of a run, from the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from streampose.config.sections import LiveConfig, MotionConfig, PerformanceConfig
from streampose.planning import capacity
from streampose.planning.layout import InferWorker, ProcessLayout
from streampose.planning.work_items import ItemPlanner
from tests.planning.test_work_items import YOLO_LIKE


@dataclass
class Plan:
    """What capacity reads of a RunPlan."""

    live: tuple[bool, ...] = (False, True)
    batch: int = 4
    frame_slots: int | None = None
    infer: int = 2
    postprocess_workers: int = 3
    render: tuple[tuple[int, ...], ...] = ((0, 1),)
    sizes: tuple[tuple[int, int], ...] = ((640, 480), (320, 240))
    items: dict[tuple[int, int], int] = field(default_factory=dict)  # work items per size
    bound: tuple[int, int] | None = None  # the largest frame the buffers hold
    preprocess: int = 1
    motion: tuple[bool, ...] = ()
    config: Any = field(init=False)

    def __post_init__(self) -> None:
        self.config = SimpleNamespace(
            performance=PerformanceConfig(frame_slots=self.frame_slots),
            batching=SimpleNamespace(batch=self.batch), motion=MotionConfig(mode="on"),
            live_for=lambda stream: LiveConfig(slots=5))
        planned = self.sizes if self.bound is None else (*self.sizes, self.bound)
        self.sources = [SimpleNamespace(live=live, sizes=self.sizes, planned_sizes=planned)
                        for live in self.live]
        shards = tuple((s,) for s in range(self.preprocess))
        self.processes = ProcessLayout(infer=(InferWorker("cpu", None),) * self.infer,
                                preprocess=shards, render=self.render)
        self.work = SimpleNamespace(count=lambda w, h: self.items.get((w, h), 1))


def test_a_file_stream_holds_two_batches_and_a_batch_per_extra_worker() -> None:
    plan: Any = Plan(batch=4, infer=2)
    assert capacity.file_slots(plan) == 2 * 4 + 6 + 4
    assert capacity.frame_slots(plan, 0) == capacity.file_slots(plan)
    assert capacity.file_slots(Plan(frame_slots=9)) == 9  # type: ignore[arg-type]


def test_a_live_stream_holds_its_live_slots() -> None:
    assert capacity.frame_slots(Plan(), 1) == 5  # type: ignore[arg-type]


def test_a_frame_slot_holds_the_largest_frame() -> None:
    assert capacity.frame_bytes(Plan(), 0) == 640 * 480 * 3  # type: ignore[arg-type]


def test_a_frame_slot_holds_the_bound_a_stream_may_grow_to() -> None:
    plan: Any = Plan(bound=(1920, 1080), items={(1920, 1080): 3})
    assert capacity.frame_bytes(plan, 0) == 1920 * 1080 * 3
    assert capacity.frame_items(plan) == 3


def test_inputs_maps_and_results() -> None:
    plan: Any = Plan(batch=4, infer=2, postprocess_workers=3, render=((0,), (1,)))
    assert capacity.input_slots(plan) == 4 * 2 + 2
    assert capacity.map_slots(plan) == 4 * 2 + 2 + 3
    assert capacity.results_size(plan, 1) == 4 * capacity.file_slots(plan) * 1


def test_whole_frames_give_one_item_each() -> None:
    assert capacity.frame_items(Plan()) == 1  # type: ignore[arg-type]


def test_tiled_frames_widen_the_input_ring_and_the_results_queue() -> None:
    plan: Any = Plan(batch=4, infer=2, postprocess_workers=3, render=((0,), (1,)), preprocess=2,
                     items={(320, 240): 6})
    assert capacity.frame_items(plan) == 6  # the most items any size gives
    assert capacity.input_slots(plan) == 4 * 2 + 2 + 5 * 2  # a frame's items per shard
    assert capacity.map_slots(plan) == capacity.input_slots(plan) + 3
    assert capacity.results_size(plan, 1) == 4 * capacity.file_slots(plan) * 6 * 1


def test_the_run_plan_counts_a_size_s_tiles() -> None:
    """frame_items on a real planner: tiles on at a scale twice the model's input."""
    plan: Any = Plan(sizes=((480, 360),))
    plan.work = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8)
    assert capacity.frame_items(plan) == len(plan.work.plan(480, 360)) > 1


def test_motion_regions_make_room_for_their_most_regions_per_frame() -> None:
    plan: Any = Plan(items={(320, 240): 2}, motion=(False, True))
    assert capacity.frame_items(plan) == MotionConfig().max_regions  # 4 regions > 2 tiles
    plan.items = {(320, 240): 6}
    assert capacity.frame_items(plan) == 6  # or the frame's usual items, the more
    plan.motion = (False, False)
    plan.items = {}
    assert capacity.frame_items(plan) == 1
