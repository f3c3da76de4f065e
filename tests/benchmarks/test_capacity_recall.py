"""benchmarks/capacity_recall.py: a looping camera's output frames aligned to the clip on
synthetic pose sequences (known offsets, drops, a skip, an ambiguous scene), then scored."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from capacity_recall import (  # noqa: E402  (benchmarks/ is a script folder, not a package)
    Segment,
    Trust,
    agreement,
    align,
    camera_recall,
    centres,
    segments,
)
from recall_match import Person, Rule  # noqa: E402

CLIP = 120  # frames in the synthetic clip
RADIUS = 6.0


def walkers(seed: int = 0, people: int = 4) -> dict[int, list[list[list[float]]]]:
    """Clip frame -> poses: ``people`` walkers crossing a 480x360 frame at 1-3 px a frame,
    each pose three keypoints around its centre."""
    rng = np.random.default_rng(seed)
    start, speed = rng.uniform(20, 340, (people, 2)), rng.uniform(-3, 3, (people, 2))
    frames = {}
    for n in range(CLIP):
        xy = (start + n * speed) % 340 + 10
        frames[n] = [[[x - 2, y - 8, 0.9], [x, y, 0.9], [x + 2, y + 8, 0.9]] for x, y in xy]
    return frames


def live(reference: dict[int, list], seqs: list[int], offset_of: dict[int, int]
         ) -> dict[int, list]:
    """Output frame -> poses: clip frame (seq + the offset in force) mod CLIP, the offset
    changing at the seqs of ``offset_of``."""
    out, offset = {}, 0
    for seq in seqs:
        offset = offset_of.get(seq, offset)
        out[seq] = reference[(seq + offset) % CLIP]
    return out


def aligned(out: dict[int, list], reference: dict[int, list]) -> list[Segment]:
    seq = sorted(out)
    rule = Rule()
    agree = agreement([centres(out[f], rule) for f in seq],
                      [centres(reference[n], rule) for n in range(CLIP)], RADIUS)
    return segments(seq, agree, align(seq, agree))


def test_centres_are_the_mean_of_found_keypoints() -> None:
    pose = [[10.0, 20.0, 0.9], [20.0, 40.0, 0.9], [500.0, 500.0, 0.1]]
    assert centres([pose, []], Rule()).tolist() == [[15.0, 30.0]]
    assert centres([], Rule()).shape == (0, 2)


def test_agreement_counts_centres_paired_within_the_radius() -> None:
    ref = [np.array([[0.0, 0.0], [100.0, 0.0]]), np.zeros((0, 2))]
    out = [np.array([[3.0, 4.0]]), np.array([[50.0, 0.0]])]
    assert agreement(out, ref, 5.0).tolist() == [[2 / 3, 0.0], [0.0, 0.0]]


def test_the_join_offset_is_recovered_across_drops_and_the_loop_wrap() -> None:
    reference = walkers()
    seqs = [s for s in range(300) if s % 7 != 3]  # dropped frames leave gaps in ``frame``
    (only,) = aligned(live(reference, seqs, {0: 47}), reference)
    assert (only.offset, only.start, only.end) == (47, 0, len(seqs))
    assert only.score == pytest.approx(1.0) and only.runner_up < 0.5


def test_frames_lost_before_decoding_start_a_new_segment() -> None:
    reference = walkers(seed=1)
    seqs = list(range(200))
    first, second = aligned(live(reference, seqs, {0: 10, 90: 30}), reference)
    assert (first.offset, first.end, second.offset, second.start) == (10, 90, 30, 90)


def test_recall_of_the_ground_truth_frames_shown() -> None:
    reference = walkers(seed=2)
    truth = {n: [Person(box=(p[0][0] - 3, p[0][1] - 1, p[2][0] + 3, p[2][1] + 1))
                 for p in reference[n]] for n in (0, 40, 80)}
    out = live(reference, list(range(150)), {0: 25})
    out[15] = out[15][:2]  # clip frame 40: two of its four people missed
    result = camera_recall(out, reference, truth, radius=RADIUS)
    assert result.segments[0].offset == 25
    # seq 15 -> 40, 55 -> 80, 95 -> 0, 135 -> 40
    assert (result.frames_scored, result.people, result.hits) == (4, 16, 14)
    assert result.recall == pytest.approx(14 / 16) and result.precision == 1.0
    assert result.cell().startswith("0.88 / 1.00 (4 GT frames; alignment 1.00 vs 0.")


def test_ground_truth_frames_of_an_untrusted_segment_are_not_scored() -> None:
    reference = walkers(seed=4)
    truth = {n: [Person(box=(0.0, 0.0, 480.0, 360.0))] for n in (30, 100)}
    out = live(reference, list(range(150)), {0: 0, 140: 50})  # 10 frames: too few
    result = camera_recall(out, reference, truth, radius=RADIUS)
    first, second = result.segments  # neighbouring offsets tie on a few frames: +-1
    assert first.offset == 0 and abs(second.offset - 50) <= 1 and second.start == 140
    # seq 30 and 100 at offset 0 scored; seq 140..149 -> clip 70..79: no ground truth
    assert (result.frames_scored, result.unaligned) == (2, 0)
    out = live(reference, list(range(102)), {0: 0, 90: 15})  # seq 90..101 -> 105..116
    truth[110] = truth[30]
    result = camera_recall(out, reference, truth, radius=RADIUS, trust=Trust(min_frames=20))
    assert (result.frames_scored, result.unaligned) == (1, 1)
    assert "1 GT frames, 1 not aligned; alignment 1.00 vs" in result.cell()
    assert "(weakest of 2 segments)" in result.cell()


def test_an_ambiguous_alignment_leaves_recall_unknown() -> None:
    still = {n: walkers(seed=3)[0] for n in range(CLIP)}  # nobody moves: any offset fits
    truth = {0: [Person(box=(0.0, 0.0, 480.0, 360.0))]}
    result = camera_recall(live(still, list(range(150)), {0: 5}), still, truth,
                           radius=RADIUS)
    assert result.recall is None and result.frames_scored == 0
    assert result.unknown is not None and result.unknown.startswith("alignment ambiguous")
    assert result.cell().startswith("unknown: alignment ambiguous (agreement 1.00")


def test_too_short_a_segment_is_not_trusted() -> None:
    segment = Segment(start=0, end=5, offset=0, score=1.0, runner_up=0.0,
                      runner_up_offset=60)
    assert not segment.trusted(Trust()) and segment.trusted(Trust(min_frames=5))


def test_no_output_or_no_ground_truth_shown_is_unknown() -> None:
    reference = walkers()
    assert camera_recall({}, reference, {}, radius=RADIUS).unknown == "no output frames"
    result = camera_recall(live(reference, list(range(20)), {0: 0}), reference,
                           {100: [Person(box=(0.0, 0.0, 1.0, 1.0))]}, radius=RADIUS)
    assert result.unknown == "no ground-truth frame among the output frames"
