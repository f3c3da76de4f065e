"""Track-id stability on real video: how often does a person's id change between frames?

Runs the shared model over the first N frames of ../shared/media/vtest.mp4, decodes the
poses, tracks them with PoseTracker, then, for every pair of consecutive frames, pairs up
people by the position of their neck (shoulder midpoint when the neck is missing): mutual
nearest neighbours closer than max(15 px, half the shoulder width). The figure is the
fraction of those pairs whose track id differs (an id switch or a lost-and-new track).

``--crowd N`` instead times PoseTracker.update alone on N synthetic people walking with
jitter and missing keypoints (no model, no shared data); it was about 0.4 ms a frame for
30 people on a 2-core CPU box.

    python benchmarks/id_stability.py [--frames 150] [--height 368 480] [--crowd 30]

tests/test_tracking.py imports this file for its shared-data test.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from streampose.backends.fake_people import standing_person
from streampose.pose import COCO18, PafDecoder, Poses
from streampose.pose.tracking import PoseTracker

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"
VIDEO = SHARED / "media/vtest.mp4"
STRIDE = 8
NECK, R_SHOULDER, L_SHOULDER = 1, 2, 5
MIN_RADIUS = 15.0


def video_poses(model: Path, video: Path, *, frames: int, height: int) -> Iterator[Poses]:
    """Untracked poses, in frame pixels, of the first ``frames`` frames of ``video``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    decoder = PafDecoder(COCO18)
    capture = cv2.VideoCapture(str(video))
    try:
        for _ in range(frames):
            ok, frame = capture.read()
            if not ok:
                return
            yield _frame_poses(session, decoder, frame, height)
    finally:
        capture.release()


def _frame_poses(session, decoder: PafDecoder, frame: np.ndarray, height: int) -> Poses:
    h, w = frame.shape[:2]
    new_w = round(w * height / h)
    batch = np.zeros((1, height, -(-new_w // STRIDE) * STRIDE, 3), np.float32)
    batch[0, :, :new_w] = cv2.resize(frame, (new_w, height), interpolation=cv2.INTER_AREA)
    maps = session.run(None, {"image:0": batch})[0][0].transpose(2, 0, 1)
    sx, sy = new_w / w, height / h
    poses = decoder(maps[:19], maps[19:])
    # map cell j covers input [8j, 8j + 8): centre 8(j + 0.5), minus half a pixel
    return poses.transformed(scale=(STRIDE / sx, STRIDE / sy),
                             offset=(4 / sx - 0.5, 4 / sy - 0.5))


def anchors(poses: Poses) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: neck (or shoulder midpoint) (P, 2), whether it exists (P,), match radius (P,)."""
    kp = poses.keypoints
    seen = kp[..., 2] > 0
    shoulders = seen[:, R_SHOULDER] & seen[:, L_SHOULDER]
    midpoint = (kp[:, R_SHOULDER, :2] + kp[:, L_SHOULDER, :2]) / 2
    point = np.where(seen[:, NECK, None], kp[:, NECK, :2], midpoint)
    width = np.linalg.norm(kp[:, R_SHOULDER, :2] - kp[:, L_SHOULDER, :2], axis=-1)
    radius = np.maximum(MIN_RADIUS, np.where(shoulders, width / 2, 0.0))
    return point, seen[:, NECK] | shoulders, radius


def same_people(before: Poses, after: Poses) -> list[tuple[int, int]]:
    """(i, j) of people of ``before`` and ``after`` that are mutual nearest within radius."""
    a, a_ok, a_radius = anchors(before)
    b, b_ok, b_radius = anchors(after)
    if not (a_ok.any() and b_ok.any()):
        return []
    dist = np.linalg.norm(a[:, None] - b[None], axis=-1)
    dist[~a_ok] = np.inf
    dist[:, ~b_ok] = np.inf
    nearest_b, nearest_a = dist.argmin(axis=1), dist.argmin(axis=0)
    radius = np.maximum(a_radius[:, None], b_radius[None])
    return [(i, int(j)) for i, j in enumerate(nearest_b)
            if nearest_a[j] == i and dist[i, j] < radius[i, j]]


def id_changes(sequence: list[Poses]) -> tuple[int, int]:
    """(matches whose track id changed, matches) over consecutive frames of tracked poses."""
    changed = matches = 0
    for before, after in itertools.pairwise(sequence):
        for i, j in same_people(before, after):
            matches += 1
            changed += int(before.track_ids[i] != after.track_ids[j])
    return changed, matches


def tracked(sequence: list[Poses], tracker: PoseTracker) -> list[Poses]:
    return [tracker.update(poses) for poses in sequence]


def crowd_update_times(people: int, frames: int, seed: int = 0) -> list[float]:
    """Seconds per ``PoseTracker.update`` for ``people`` synthetic walkers over ``frames``."""
    rng = np.random.default_rng(seed)
    speeds = rng.uniform(-3, 3, people)
    tracker, times = PoseTracker(), []
    for t in range(frames):
        keypoints = np.stack([_jittered(standing_person(
            x=60 * (i % 10) + 50 + speeds[i] * t, top=250 * (i // 10), height=200), rng)
            for i in range(people)])
        poses = Poses(keypoints, np.ones(people, np.float32), COCO18)
        start = time.perf_counter()
        tracker.update(poses)
        times.append(time.perf_counter() - start)
    return times


def _jittered(kp: np.ndarray, rng: np.random.Generator, noise_px: float = 1.0,
              drop: float = 0.1) -> np.ndarray:
    """Keypoints moved by Gaussian noise, some dropped (the neck is always kept)."""
    kp = kp.copy()
    kp[:, :2] += rng.normal(0, noise_px, (len(kp), 2))
    gone = rng.uniform(size=len(kp)) < drop
    gone[NECK] = False
    kp[gone] = 0.0
    return kp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--height", type=int, nargs="+", default=[368])
    parser.add_argument("--crowd", type=int, default=0, metavar="N",
                        help="time the tracker alone on N synthetic people instead")
    args = parser.parse_args()
    if args.crowd:
        times = crowd_update_times(args.crowd, args.frames)
        print(f"{args.crowd} synthetic people, {args.frames} frames: PoseTracker.update "
              f"median {statistics.median(times) * 1000:.3f} ms")
        return
    for height in args.height:
        start = time.perf_counter()
        raw = list(video_poses(MODEL, VIDEO, frames=args.frames, height=height))
        elapsed = time.perf_counter() - start
        tracker = PoseTracker()
        start = time.perf_counter()
        sequence = tracked(raw, tracker)
        track_ms = (time.perf_counter() - start) * 1000 / max(len(raw), 1)
        changed, matches = id_changes(sequence)
        people = sum(len(p) for p in raw)
        ids = len({int(i) for p in sequence for i in p.track_ids})
        print(f"height {height}: {len(raw)} frames ({elapsed:.1f} s model+decode), "
              f"{people / max(len(raw), 1):.2f} people/frame, {ids} track ids, "
              f"tracking {track_ms:.3f} ms/frame")
        print(f"  id changed in {changed} of {matches} frame-to-frame matches "
              f"({changed / max(matches, 1):.2%})")


if __name__ == "__main__":
    main()
