"""What the event rules cost per frame: one camera's engine, three rules, N people.

    python benchmarks/events_cost.py                   # 10 people, 1000 frames
    python benchmarks/events_cost.py --people 30 --frames 300

Runs :class:`streampose.events.EventEngine` with a line, a zone (with dwell) and the fall
rule on synthetic tracked COCO-18 people walking across a 1920x1080 frame, and prints the
time per frame (median and p95 over the frames). Compare it with a frame's time in the
pipeline (1000 / fps ms) for the share events take; measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from streampose.events import EventEngine, FallRule, LineRule, ZoneRule
from streampose.outputs.base import FrameMeta
from streampose.pose import COCO18, Poses

# A standing person, COCO-18 order, in units of body height relative to the hips.
_TEMPLATE = np.array([
    (0.0, -0.44), (0.0, -0.32), (-0.12, -0.32), (-0.16, -0.14), (-0.18, 0.02),
    (0.12, -0.32), (0.16, -0.14), (0.18, 0.02), (-0.08, 0.0), (-0.09, 0.23), (-0.1, 0.46),
    (0.08, 0.0), (0.09, 0.23), (0.1, 0.46), (-0.03, -0.46), (0.03, -0.46), (-0.06, -0.44),
    (0.06, -0.44)], np.float32)


def crowd(people: int, frame: int, rng: np.random.Generator) -> Poses:
    """``people`` walkers, each at its own speed and height, with a little jitter."""
    index = np.arange(people)
    x = (100 + 37 * index + (3 + index % 5) * frame) % 1800 + 60
    y = 300 + (index * 53) % 600
    height = 120 + (index * 29) % 200
    kp = np.empty((people, COCO18.num_keypoints, 3), np.float32)
    kp[..., :2] = _TEMPLATE[None] * height[:, None, None] + np.stack([x, y], 1)[:, None, :]
    kp[..., :2] += rng.normal(0, 1.5, kp[..., :2].shape)
    kp[..., 2] = 0.8
    return Poses(kp, np.ones(people, np.float32), COCO18, track_ids=index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--frames", type=int, default=1000)
    args = parser.parse_args()
    rules = [LineRule(name="door", a=(960.0, 1000.0), b=(960.0, 100.0)),
             ZoneRule(name="desk", polygon=((300.0, 300.0), (900.0, 300.0), (900.0, 800.0),
                                            (300.0, 800.0)), dwell_s=3.0),
             FallRule()]
    engine = EventEngine(camera="bench", rules=rules, skeleton=COCO18)
    rng = np.random.default_rng(0)
    times, events = [], 0
    for frame in range(args.frames):
        poses = crowd(args.people, frame, rng)
        meta = FrameMeta(stream=0, frame=frame, pts=frame, pts_s=frame / 30, wall=0.0,
                         image_id=frame)
        start = time.perf_counter()
        events += len(engine.update(meta, poses))
        times.append(time.perf_counter() - start)
    ms = sorted(t * 1000 for t in times)
    print(f"{args.people} people, 3 rules, {args.frames} frames: {events} events; "
          f"{statistics.median(ms):.3f} ms per frame (median), "
          f"{ms[int(0.95 * (len(ms) - 1))]:.3f} ms (p95)")


if __name__ == "__main__":
    main()
