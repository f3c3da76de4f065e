"""Per-stream counters: each frame's work items, counted where preprocess decides them."""

from __future__ import annotations

import multiprocessing as mp

from streampose.observe.counters import (
    FIELDS,
    ITEM_FIELDS,
    MOTION_FIELDS,
    StreamCounters,
    items_per_frame,
    regions_per_frame,
)

CTX = mp.get_context("spawn")


def test_inferred_frames_count_their_items_and_pass_through_frames_are_skipped() -> None:
    counters = StreamCounters(streams=2, ctx=CTX)
    for inferred in (4, 4, 0, 1):  # two tiled frames, one passed through, one whole frame
        counters.items(1, inferred=inferred)
    counts = counters.snapshot()
    assert {name: counts[1][name] for name in ITEM_FIELDS} == {
        "frames_inferred": 3, "work_items": 9, "frames_skipped": 1}
    assert all(value == 0 for value in counts[0].values())  # the other stream's cells
    assert all(counts[1][name] == 0 for name in FIELDS if name not in ITEM_FIELDS)


def test_items_per_frame_is_over_inferred_frames_only() -> None:
    assert items_per_frame({"frames_inferred": 3, "work_items": 9, "frames_skipped": 5}) == 3.0
    assert items_per_frame({"frames_inferred": 3, "work_items": 4}) == 1.333
    assert items_per_frame({"frames_inferred": 0, "work_items": 0, "frames_skipped": 7}) is None
    assert items_per_frame({}) is None


def test_motion_plans_count_regions_and_still_frames() -> None:
    counters = StreamCounters(streams=1, ctx=CTX)
    for regions in (2, 3, 0, 0):  # two frames on regions, two skipped as still
        counters.motion(0, regions=regions)
    counts = counters.snapshot()[0]
    assert {name: counts[name] for name in MOTION_FIELDS} == {
        "frames_regions": 2, "regions": 5, "frames_still": 2}
    assert all(counts[name] == 0 for name in FIELDS if name not in MOTION_FIELDS)
    assert regions_per_frame(counts) == 2.5
    assert regions_per_frame({"frames_still": 4}) is None
