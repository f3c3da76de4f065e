"""Motion regions on synthetic scenes: a square moving over a static noisy background."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from streampose.errors import ConfigError
from streampose.pose.crops import whole_frame
from streampose.regions.motion import (
    MotionDetector,
    MotionSettings,
    RegionCounts,
    RegionPlan,
    RegionPlanner,
)

W, H = 320, 240
SIDE = 24
_BACKGROUND = np.random.default_rng(0).integers(60, 190, size=(H, W, 3), dtype=np.uint8)


def _frame(index: int, square: tuple[int, int] | None = None) -> np.ndarray:
    """The static textured background with fresh sensor noise, and a bright square whose
    top-left corner is ``square``."""
    noise = np.random.default_rng(1000 + index).normal(0, 4, size=(H, W, 3))
    frame = np.clip(_BACKGROUND + noise, 0, 255).astype(np.uint8)
    if square is not None:
        x, y = square
        frame[y:y + SIDE, x:x + SIDE] = 250
    return frame


def _walk(index: int) -> tuple[int, int]:
    """The square's corner on frame ``index``: 4 pixels right per frame from (40, 100)."""
    return 40 + 4 * index, 100


def _contains(box: tuple[int, ...] | np.ndarray, x: int, y: int, side: int = SIDE) -> bool:
    return bool(box[0] <= x and box[1] <= y and box[2] >= x + side and box[3] >= y + side)


def test_still_noisy_scene_gives_no_motion() -> None:
    detector = MotionDetector()
    for i in range(30):
        boxes = detector.detect(_frame(i))
        assert boxes.shape == (0, 4)
    assert detector.mask is not None and not detector.mask.any()


def test_first_frame_primes_the_background() -> None:
    detector = MotionDetector()
    assert not detector.primed
    assert len(detector.detect(_frame(0, (100, 100)))) == 0
    assert detector.primed and detector.restarted


def test_moving_square_is_found_where_it_moves() -> None:
    detector = MotionDetector()
    for i in range(10):
        boxes = detector.detect(_frame(i, _walk(i)))
    x, y = _walk(9)
    assert len(boxes) == 1
    box = boxes[0]
    assert _contains(box, x, y)  # the square now ...
    assert box[0] < x  # ... and its recent trail
    assert box[2] - box[0] < 120 and box[3] - box[1] < 60  # not the whole frame
    mask = detector.mask
    assert mask is not None and mask.shape == (120, 160)
    assert mask[(y + SIDE // 2) // 2, (x + SIDE // 2) // 2] == 255
    assert not mask[:, :10].any() and not mask[:40].any()


def test_two_movers_far_apart_give_two_boxes_top_to_bottom() -> None:
    detector = MotionDetector()
    for i in range(6):
        frame = _frame(i, (250 - 4 * i, 190))
        frame[20:20 + SIDE, 30 + 4 * i:30 + 4 * i + SIDE] = 5  # a dark square, up left
        boxes = detector.detect(frame)
    assert len(boxes) == 2
    assert boxes[0][1] < boxes[1][1]


def test_grey_frames_and_bad_frames() -> None:
    detector = MotionDetector()
    detector.detect(_frame(0)[..., 0].copy())
    assert len(detector.detect(_frame(1, (10, 10))[..., 0].copy())) == 1
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))


def test_deterministic() -> None:
    runs = []
    for _ in range(2):
        detector = MotionDetector()
        runs.append([detector.detect(_frame(i, _walk(i))).tolist() for i in range(8)])
    assert runs[0] == runs[1]


def test_size_change_restarts_the_background() -> None:
    detector = MotionDetector()
    detector.detect(_frame(0))
    detector.detect(_frame(1))
    assert not detector.restarted
    assert len(detector.detect(_frame(1)[:120, :160].copy())) == 0
    assert detector.restarted


def _planner(**settings: object) -> RegionPlanner:
    return RegionPlanner(settings=MotionSettings(**settings), scale=2.0)  # type: ignore[arg-type]


def test_planner_full_pass_at_start_then_regions_then_still() -> None:
    planner = _planner(full_every=1000)
    first = planner.plan(_frame(0))
    assert first == RegionPlan("full", (whole_frame(W, H, scale=2.0),), ())
    assert planner.plan(_frame(1)).kind == "still"
    moving = planner.plan(_frame(2, (100, 100)))
    assert moving.kind == "regions" and len(moving.crops) == 1
    crop = moving.crops[0]
    assert crop.scale == 2.0 and _contains(crop.box, 100, 100)
    assert crop.w >= 64 and crop.h >= 64  # min_side
    assert moving.motion and _contains(moving.motion[0], 100, 100)
    assert planner.counts == RegionCounts(frames=3, full=1, with_regions=1, regions=1,
                                          still=1)


def test_planner_takes_the_motion_its_detector_already_found(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``--interval auto`` runs the detector on every frame; the plan reuses its boxes."""
    planner = _planner(full_every=1000)
    planner.plan(_frame(0))
    found = planner.detector.detect(_frame(1, (100, 100)))
    fed: list[np.ndarray] = []
    monkeypatch.setattr(planner.detector, "detect", fed.append)
    plan = planner.plan(_frame(1, (100, 100)), motion=found)
    assert plan.kind == "regions" and _contains(plan.motion[0], 100, 100)
    assert fed == []  # the frame was not fed in twice


def test_planner_periodic_full_pass() -> None:
    planner = _planner(full_every=10)
    kinds = [planner.plan(_frame(i)).kind for i in range(25)]
    assert [i for i, k in enumerate(kinds) if k == "full"] == [0, 10, 20]
    assert set(kinds) == {"full", "still"}
    counts = planner.counts
    assert (counts.frames, counts.full, counts.still, counts.with_regions) == (25, 3, 22, 0)
    assert counts.regions_per_frame == 0.0


def test_tracked_person_who_stops_is_kept() -> None:
    planner = _planner(full_every=10_000, learning_rate=0.2)
    tracked_planner = _planner(full_every=10_000, learning_rate=0.2)
    stop = _walk(8)
    for i in range(9):
        walking = planner.plan(_frame(i, _walk(i)))
        tracked_planner.plan(_frame(i, _walk(i)))
    assert walking.kind == "regions" and _contains(walking.crops[0].box, *stop)
    box = np.array([[stop[0], stop[1], stop[0] + SIDE, stop[1] + SIDE]], np.float32)
    for i in range(9, 50):  # the square stands still until it fades into the background
        plain = planner.plan(_frame(i, stop))
        kept = tracked_planner.plan(_frame(i, stop), box)
    assert plain.kind == "still" and not plain.motion  # motion alone has lost it
    assert kept.kind == "regions" and not kept.motion
    assert len(kept.crops) == 1 and _contains(kept.crops[0].box, *stop)


def test_planner_without_motion_keeps_every_tracked_box() -> None:
    planner = _planner(full_every=10_000, min_side=16, margin=0.0)
    planner.plan(_frame(0))
    tracked = [[10, 10, 40, 80], [200, 100, 230, 170], [0, 0, 0, 0]]  # the last: no box
    plan = planner.plan(_frame(1), tracked)
    assert [c.box for c in plan.crops] == [(10, 10, 40, 80), (200, 100, 230, 170)]
    assert planner.counts.regions_per_frame == 2.0


def test_regions_covering_most_of_the_frame_give_a_full_pass() -> None:
    planner = _planner(full_every=10_000, full_area=0.3)
    planner.plan(_frame(0))
    plan = planner.plan(_frame(1), [[0, 0, 200, 200]])
    assert plan.kind == "full" and plan.crops == (whole_frame(W, H, scale=2.0),)


def test_too_many_regions_are_merged_to_the_limit() -> None:
    planner = _planner(full_every=10_000, max_regions=2, min_side=8, margin=0.0)
    planner.plan(_frame(0))
    tracked = [[10, 10, 20, 20], [100, 10, 110, 20], [10, 200, 20, 210], [300, 200, 310, 210]]
    assert len(planner.plan(_frame(1), tracked).crops) <= 2


def test_reset_starts_over() -> None:
    planner = _planner(full_every=10_000)
    planner.plan(_frame(0))
    planner.plan(_frame(1))
    planner.reset()
    assert planner.counts == RegionCounts()
    assert planner.plan(_frame(2)).kind == "full"


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("width", 4, "8..4096"), ("learning_rate", 0.0, "(0.0, 1.0]"),
    ("learning_rate", 1.5, "(0.0, 1.0]"), ("threshold", 0, "1..255"), ("blur", 4, "odd"),
    ("dilate", -1, "0..20"), ("full_every", 0, "1.."), ("margin", float("nan"), "[0.0, 10.0]"),
    ("max_regions", 0, "1..64"), ("full_area", 0.0, "(0.0, 1.0]"), ("min_area", True, "1.."),
    ("width", 100.0, "8..4096"),
])
def test_settings_name_the_field_value_and_range(field: str, value: object,
                                                 allowed: str) -> None:
    pattern = f"motion: {re.escape(field)} = {re.escape(repr(value))}.*{re.escape(allowed)}"
    with pytest.raises(ConfigError, match=pattern):
        MotionSettings(**{field: value})  # type: ignore[arg-type]


def test_settings_are_frozen() -> None:
    settings = MotionSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.width = 10  # type: ignore[misc]
