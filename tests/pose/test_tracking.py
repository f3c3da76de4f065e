"""PoseTracker: synthetic people stepped frame by frame, and id stability on real video."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streampose.backends.fake_people import standing_person
from streampose.pose import BODY25, COCO18, Poses
from streampose.pose.tracking import PoseTracker
from tests.support.shared import shared_file

Person = np.ndarray  # (18, 3) keypoints of one person in one frame


def frame(people: list[Person | None]) -> Poses:
    """A frame's poses; ``None`` entries (people not detected) are left out."""
    found = [p for p in people if p is not None]
    if not found:
        return Poses.empty(COCO18)
    return Poses(np.stack(found), np.ones(len(found), np.float32), COCO18)


def run(tracker: PoseTracker, frames: list[list[Person | None]]) -> list[list[int | None]]:
    """Ids per frame, aligned with the input people (``None`` where a person is absent)."""
    out = []
    for people in frames:
        ids = iter(tracker.update(frame(people)).track_ids.tolist())
        out.append([None if p is None else next(ids) for p in people])
    return out


def walker(*, x0: float, vx: float, top: float = 100.0,
           height: float = 200.0) -> Callable[[float], Person]:
    """A person walking horizontally: ``walker(...)(t)`` is their keypoints at frame t."""
    return lambda t: standing_person(x=x0 + vx * t, top=top, height=height)


def ids_of(result: list[list[int | None]], person: int) -> list[int]:
    return [ids[person] for ids in result if ids[person] is not None]


# --- crossing paths --------------------------------------------------------------------
# A walks right and B walks left; they pass each other half-way between frames 32 and 33,
# so on frame 33 the two poses are those of frame 32, swapped: with people that look the
# same, only the motion tells who is who.

CROSSINGS = {
    # name: (speed px/frame, (top, height) of A, (top, height) of B, frames B is hidden)
    "look-alikes": (6.0, (100, 200), (100, 200), ()),
    "look-alikes, slow": (1.5, (100, 200), (100, 200), ()),
    "look-alikes, fast": (20.0, (100, 200), (100, 200), ()),
    "heads 10 px apart": (6.0, (100, 200), (110, 200), ()),
    "near and far": (6.0, (100, 220), (120, 170), ()),
    "B hidden behind A": (6.0, (100, 200), (100, 200), (30, 31, 32, 33, 34, 35)),
    "B hidden behind A, fast": (12.0, (100, 200), (100, 200), (31, 32, 33, 34)),
}


@pytest.mark.parametrize("case", CROSSINGS.values(), ids=CROSSINGS.keys())
@pytest.mark.parametrize("reverse", [False, True], ids=["A first", "B first"])
def test_people_crossing_paths_keep_their_ids(case, reverse: bool) -> None:
    speed, (top_a, h_a), (top_b, h_b), hidden = case
    frames, half = 66, 32.5
    a = walker(x0=400 - speed * half, vx=speed, top=top_a, height=h_a)
    b = walker(x0=400 + speed * half, vx=-speed, top=top_b, height=h_b)
    tracker = PoseTracker()
    tracker.update(frame([a(0), b(0)]))  # A gets 0, B gets 1
    for t in range(1, frames):
        people = {0: a(t), 1: None if t in hidden else b(t)}
        order = [1, 0] if reverse and t % 2 else [0, 1]  # detection order alternates
        expected = [i for i in order if people[i] is not None]
        ids = tracker.update(frame([people[i] for i in order])).track_ids
        assert ids.tolist() == expected, f"frame {t}"


def test_identical_poses_at_the_crossing_frame_do_not_swap_ids_afterwards() -> None:
    a = walker(x0=100, vx=5)
    b = walker(x0=500, vx=-5)  # the same pose as A on frame 40
    result = run(PoseTracker(), [[a(t), b(t)] if t < 40 else [b(t), a(t)] for t in range(80)])
    assert result[:40] == [[0, 1]] * 40
    assert result[41:] == [[1, 0]] * 39


def test_a_hidden_walker_coasts_past_a_person_standing_where_it_vanished() -> None:
    walking = walker(x0=100, vx=10)
    stranger = standing_person(x=290, top=100, height=200)  # where the walker was on frame 19
    scenes = [[None if 20 <= t < 30 else walking(t), stranger if t >= 26 else None]
              for t in range(40)]  # on frame 26 the walker is 70 px past the stranger
    result = run(PoseTracker(), scenes)
    assert ids_of(result, 0) == [0] * 30
    assert ids_of(result, 1) == [1] * 14


# --- missed detections ------------------------------------------------------------------

@pytest.mark.parametrize(("gap", "same_id"), [
    (1, True), (3, True), (14, True), (15, True), (16, False), (40, False),
])
def test_person_missing_for_some_frames(gap: int, same_id: bool) -> None:
    walking, standing = walker(x0=100, vx=3), walker(x0=700, vx=0)
    start = 10
    scenes = [[None if start <= t < start + gap else walking(t), standing(t)]
              for t in range(start + gap + 10)]
    result = run(PoseTracker(max_age=15), scenes)
    walking_ids = ids_of(result, 0)
    assert walking_ids[:start] == [0] * start
    assert set(walking_ids[start:]) == ({0} if same_id else {2})
    assert ids_of(result, 1) == [1] * len(scenes)


def test_a_person_entering_gets_a_new_id_and_the_others_keep_theirs() -> None:
    people = [walker(x0=100, vx=2), walker(x0=400, vx=-1), walker(x0=900, vx=-4)]
    scenes = [[p(t) if (i < 2 or t >= 20) else None for i, p in enumerate(people)]
              for t in range(40)]
    result = run(PoseTracker(), scenes)
    assert ids_of(result, 0) == [0] * 40
    assert ids_of(result, 1) == [1] * 40
    assert ids_of(result, 2) == [2] * 20


def test_ids_are_never_reused() -> None:
    tracker = PoseTracker(max_age=2)
    person = walker(x0=100, vx=0)
    seen = []
    for _ in range(5):
        seen += ids_of(run(tracker, [[person(0)]] * 3 + [[None]] * 4), 0)
    assert seen == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3


# --- detection order, noise ------------------------------------------------------------

def test_ids_follow_people_in_shuffled_detection_order() -> None:
    rng = np.random.default_rng(1)
    people = [walker(x0=100 + 150 * i, vx=float(rng.uniform(-3, 3)), top=80 + 20 * i)
              for i in range(6)]
    tracker = PoseTracker()
    for t in range(50):
        order = rng.permutation(len(people)) if t else np.arange(len(people))
        ids = tracker.update(frame([people[i](t) for i in order])).track_ids
        assert ids.tolist() == order.tolist(), f"frame {t}"  # person i is id i from frame 0


def test_first_frame_ids_follow_detection_order() -> None:
    people = [walker(x0=100 + 150 * i, vx=0)(0) for i in range(4)]
    assert PoseTracker().update(frame(people)).track_ids.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(("noise_px", "drop"), [(1.0, 0.0), (3.0, 0.0), (2.0, 0.3), (4.0, 0.5)])
def test_ids_stable_under_jitter_and_missing_keypoints(noise_px: float, drop: float) -> None:
    rng = np.random.default_rng(7)
    people = [walker(x0=150 + 160 * i, vx=float(rng.uniform(-2, 2)), top=100 + 30 * (i % 2),
                     height=180) for i in range(6)]
    tracker = PoseTracker()
    for t in range(100):
        noisy = [_degrade(p(t), rng, noise_px, drop) for p in people]
        assert tracker.update(frame(noisy)).track_ids.tolist() == list(range(6)), f"frame {t}"


def _degrade(kp: np.ndarray, rng: np.random.Generator, noise_px: float, drop: float) -> Person:
    kp = kp.copy()
    kp[:, :2] += rng.normal(0, noise_px, (len(kp), 2))
    gone = rng.uniform(size=len(kp)) < drop
    gone[1] = False  # keep one keypoint: a person with none is not a detection
    kp[gone] = 0.0
    return kp


def test_a_fragment_split_off_a_person_does_not_take_their_track() -> None:
    """Decoders sometimes split an arm off a person: an exact fit on 4 keypoints must not
    beat the whole person's detection (a good fit on all 18)."""
    rng = np.random.default_rng(0)
    person = walker(x0=100, vx=3)
    not_arm = tuple(k for k in range(18) if k not in (2, 3, 4, 16))  # keep the right arm, ear
    tracker = PoseTracker()
    for t in range(20):
        whole = _degrade(person(t), rng, 2.0, 0.0)
        fragment = standing_person(x=100 + 3 * t, top=100, height=200, missing=not_arm)
        ids = tracker.update(frame([fragment, whole] if t else [whole])).track_ids.tolist()
        assert ids[-1] == 0, f"frame {t}"


@pytest.mark.parametrize("keep", [(1,), (0, 1), (8, 11)], ids=["neck", "nose+neck", "hips"])
def test_people_with_few_keypoints_get_and_keep_ids(keep: tuple[int, ...]) -> None:
    missing = tuple(k for k in range(18) if k not in keep)
    scenes = [[standing_person(x=100 + t, top=100, height=200, missing=missing),
               standing_person(x=600 - t, top=100, height=200, missing=missing)]
              for t in range(20)]
    assert run(PoseTracker(), scenes) == [[0, 1]] * 20


def test_a_person_without_keypoints_gets_no_id() -> None:
    tracker = PoseTracker()
    nobody = np.zeros((18, 3), np.float32)
    ids = tracker.update(frame([nobody, walker(x0=100, vx=0)(0)])).track_ids
    assert ids.tolist() == [-1, 0]
    assert tracker.num_tracks == 1


# --- empty frames, state, errors ------------------------------------------------------

def test_empty_frames() -> None:
    tracker = PoseTracker(max_age=3)
    empty = tracker.update(Poses.empty(COCO18))
    assert len(empty) == 0 and empty.track_ids.dtype == np.int64
    person = walker(x0=100, vx=4)
    scenes = [[person(t)] if t % 4 == 0 else [] for t in range(30)]  # seen every 4th frame
    ids = [tracker.update(frame(s)).track_ids.tolist() for s in scenes]
    assert [i for i in ids if i] == [[0]] * 8


def test_update_keeps_people_order_and_data() -> None:
    poses = frame([walker(x0=100 * i, vx=0)(0) for i in range(1, 4)])
    tracked = PoseTracker().update(poses)
    np.testing.assert_array_equal(tracked.keypoints, poses.keypoints)
    np.testing.assert_array_equal(tracked.scores, poses.scores)
    assert tracked.skeleton is poses.skeleton


def test_min_hits_delays_ids_and_spurious_detections_burn_none() -> None:
    tracker = PoseTracker(min_hits=3)
    steady, flicker = walker(x0=100, vx=2), walker(x0=600, vx=0)
    scenes = [[steady(t), flicker(t) if t == 1 else None] for t in range(6)]
    result = run(tracker, scenes)
    assert ids_of(result, 0) == [-1, -1, 0, 0, 0, 0]
    assert ids_of(result, 1) == [-1]
    assert tracker.update(frame([steady(6), flicker(7)])).track_ids.tolist() == [0, -1]


def test_reset_starts_over() -> None:
    tracker = PoseTracker()
    run(tracker, [[walker(x0=100 * i, vx=0)(0) for i in range(1, 4)]])
    tracker.reset()
    assert tracker.num_tracks == 0
    assert tracker.update(frame([walker(x0=900, vx=0)(0)])).track_ids.tolist() == [0]


def test_another_keypoint_layout_needs_a_reset() -> None:
    tracker = PoseTracker()
    tracker.update(frame([walker(x0=100, vx=0)(0)]))
    body25 = Poses(np.ones((1, 25, 3), np.float32), np.ones(1, np.float32), BODY25)
    with pytest.raises(ValueError, match="call reset"):
        tracker.update(body25)
    tracker.reset()
    assert tracker.update(body25).track_ids.tolist() == [0]


def _random_scenes(seed: int, frames: int) -> list[list[Person | None]]:
    """People wandering, appearing and disappearing, with jitter and missing keypoints."""
    rng = np.random.default_rng(seed)
    people = [walker(x0=float(rng.uniform(0, 1500)), vx=float(rng.uniform(-8, 8)),
                     top=float(rng.uniform(0, 600)), height=float(rng.uniform(60, 300)))
              for _ in range(12)]
    return [[_degrade(p(t), rng, 2.0, 0.2) if rng.uniform() < 0.8 else None for p in people]
            for t in range(frames)]


def test_same_input_same_ids() -> None:
    scenes = _random_scenes(3, 200)
    first, second = run(PoseTracker(), scenes), run(PoseTracker(), scenes)
    assert first == second
    tracker = PoseTracker()
    run(tracker, scenes[:50])
    tracker.reset()
    assert run(tracker, scenes) == first


def test_memory_stays_bounded_on_a_long_stream() -> None:
    tracker = PoseTracker(max_age=5)
    rng = np.random.default_rng(0)
    for t in range(2000):
        n = int(rng.integers(0, 6))
        people = [standing_person(x=float(rng.uniform(0, 1900)), top=float(rng.uniform(0, 800)),
                                  height=100) for _ in range(n)]  # strangers every frame
        tracker.update(frame(people))
        assert tracker.num_tracks <= 6 * 6, f"frame {t}"


ERRORS = [
    ({"max_age": -1}, "max_age=-1"),
    ({"max_age": 1.5}, "max_age=1.5"),
    ({"max_age": True}, "max_age=True"),
    ({"min_hits": 0}, "min_hits=0"),
    ({"min_similarity": 0.0}, r"min_similarity=0.0 is outside \(0, 1\]"),
    ({"min_similarity": 1.5}, r"min_similarity=1.5 is outside \(0, 1\]"),
    ({"min_similarity": float("nan")}, "min_similarity=nan"),
    ({"min_similarity": "0.5"}, "min_similarity='0.5'"),
    ({"sigma": 0}, r"sigma=0 is outside \(0, inf\)"),
    ({"sigma": float("inf")}, "sigma=inf"),
    ({"min_scale": -3.0}, "min_scale=-3.0"),
    ({"velocity_smoothing": 1.0}, r"velocity_smoothing=1.0 is outside \[0, 1\)"),
    ({"velocity_smoothing": -0.1}, "velocity_smoothing=-0.1"),
]


@pytest.mark.parametrize(("kwargs", "message"), ERRORS, ids=[m for _, m in ERRORS])
def test_constructor_errors_name_argument_value_and_range(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PoseTracker(**kwargs)


def test_constructor_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        PoseTracker(15)  # type: ignore[misc]


def test_integer_range_message_names_the_bound() -> None:
    with pytest.raises(ValueError, match=r"max_age=-1 must be an integer >= 0"):
        PoseTracker(max_age=-1)


# --- real video ------------------------------------------------------------------------

def _benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "id_stability.py"
    spec = importlib.util.spec_from_file_location("id_stability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared
@pytest.mark.parametrize(("height", "min_matches"), [(368, 30), (480, 300)])
def test_vtest_ids_change_in_at_most_5_percent_of_frame_to_frame_matches(
        height: int, min_matches: int) -> None:
    """At 368 the model finds ~0.6 people a frame on vtest (small people), ~40 matches; at
    480 about 3.6 people a frame, ~440 matches, with people passing each other."""
    pytest.importorskip("onnxruntime")
    model = shared_file("models/openpose-mnv2s-coco18.onnx")
    video = shared_file("media/vtest.mp4")
    bench = _benchmark()
    raw = list(bench.video_poses(model, video, frames=150, height=height))
    changed, matches = bench.id_changes(bench.tracked(raw, PoseTracker()))
    print(f"height {height}: id changed in {changed} of {matches} matches")
    assert matches >= min_matches
    assert changed / matches <= 0.05


def test_boxes_cover_every_live_track_a_missed_one_too() -> None:
    tracker = PoseTracker(max_age=3)
    assert tracker.boxes().shape == (0, 4)
    first = standing_person(x=100, top=50, height=120)
    second = standing_person(x=300, top=60, height=100)
    tracker.update(Poses(np.stack([first, second]), np.ones(2, np.float32), COCO18))
    boxes = tracker.boxes()
    assert boxes.shape == (2, 4)
    for box, kp in zip(boxes, (first, second), strict=True):
        np.testing.assert_allclose(box, [*kp[:, :2].min(axis=0), *kp[:, :2].max(axis=0)],
                                   atol=1e-4)
    tracker.update(Poses(first[None], np.ones(1, np.float32), COCO18))  # the second missed
    assert len(tracker.boxes()) == 2  # still tracked: still boxed
    for _ in range(4):
        tracker.update(Poses(first[None], np.ones(1, np.float32), COCO18))
    assert len(tracker.boxes()) == 1  # its track ended
