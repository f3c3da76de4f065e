"""``--interval N``: how close are carried poses to inferred ones, and what do they cost in ids?

Runs the pipeline (the real model, JSON lines) on ../shared/media/vtest.mp4 with
``--interval 0`` and each N asked (default 1 and 2; ``auto`` too, with
``--interval-max``), and reports per N:

- **OKS** of each carried person (``"inferred": false``) against the interval-0 person
  on the same frame (COCO sigmas, :func:`streampose.pose.merge.oks`, the interval-0
  pose's extent as the area, over the keypoints both have): matched by track id where
  possible (the two runs' ids are put in correspondence on the frames both inferred, where
  their poses are the same), else greedily by OKS (at least ``--min-oks``); median and
  quartiles, and how many carried people found no interval-0 person;
- **recall**: interval-0 people on carried frames that a carried person matched;
- **id switches**: consecutive-frame pairs of the same person (mutual nearest by neck,
  :func:`benchmarks.id_stability.id_changes`, written for COCO-18 skeletons: on a COCO-17
  model's poses it pairs by an eye instead) whose id changed, against interval 0's;
- **fps**: frames out per second over the run (the summary's; the machine is shared, so
  compare within one run of this script), and the frames the network ran on.

    python benchmarks/interval.py [--frames 200] [--intervals 1 2 auto] [--height 480]
        [--min-person-height PX] [--motion on] [--interval-max 2]
        [--model ../shared/models/openpose-mnthin-coco18.onnx] [--video ...vtest.mp4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.id_stability import id_changes  # noqa: E402
from streampose.config import ModelConfig, OutputsConfig, PerformanceConfig, PipelineConfig  # noqa: E402
from streampose.config.sections import MotionConfig  # noqa: E402
from streampose.pipeline import Pipeline  # noqa: E402
from streampose.pose import Poses  # noqa: E402
from streampose.pose.merge import keypoint_sigmas, oks  # noqa: E402

SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models/openpose-mnthin-coco18.onnx"
VIDEO = SHARED / "media/vtest.mp4"


def run(video: Path, model: Path, *, interval: int | str, frames: int, height: int | None,
        out: Path, interval_max: int = 2, min_person_height: int | None = None,
        motion: str = "off") -> tuple[list[Poses], float, int]:
    """The run's poses per frame (from its JSON lines), its fps and its frames inferred."""
    jsonl = out / f"interval{interval}.jsonl"
    config = PipelineConfig(sources=(str(video),),
                            model=ModelConfig(path=model, height=height, interval=interval,
                                              interval_max=interval_max,
                                              min_person_height=min_person_height),
                            motion=MotionConfig(mode=motion),
                            outputs=OutputsConfig(json=jsonl),
                            performance=PerformanceConfig(max_frames=frames))
    summary = Pipeline(config).run()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    poses = [Poses.from_json(r) for r in sorted(records, key=lambda r: r["frame"])]
    return poses, summary.fps, int(summary.streams[0]["frames_inferred"])


def interval_arg(text: str) -> int | str:
    """An --intervals value: an integer or auto."""
    return text if text == "auto" else int(text)


def carried_mask(poses: Poses) -> np.ndarray:
    return np.zeros(len(poses), bool) if poses.inferred is None else ~poses.inferred


def id_map(base: list[Poses], other: list[Poses], sigmas: np.ndarray) -> dict[int, int]:
    """other's track id -> base's, from the frames other inferred (same poses there)."""
    mapping: dict[int, int] = {}
    for ref, got in zip(base, other, strict=True):
        if carried_mask(got).any():
            continue
        for i, j in greedy(ref, got, sigmas, 0.99):
            mapping.setdefault(int(got.track_ids[j]), int(ref.track_ids[i]))
    return mapping


def greedy(ref: Poses, got: Poses, sigmas: np.ndarray, least: float,
           among: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(i of ref, j of got) pairs, highest OKS first, at least ``least``."""
    pairs = []
    for i in range(len(ref)):
        for j in range(len(got)):
            if among is None or among[j]:
                score, shared = oks(ref.keypoints[i], got.keypoints[j], sigmas)
                if shared and score >= least:
                    pairs.append((score, i, j))
    used_i: set[int] = set()
    used_j: set[int] = set()
    chosen = []
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            chosen.append((i, j))
    return chosen


def agreement(base: list[Poses], other: list[Poses], sigmas: np.ndarray, min_oks: float
              ) -> tuple[list[float], int, int, int]:
    """(OKS of each matched carried person, carried people unmatched, base people on
    carried frames, of them matched)."""
    mapping = id_map(base, other, sigmas)
    scores: list[float] = []
    unmatched = base_people = base_matched = 0
    for ref, got in zip(base, other, strict=True):
        carried = carried_mask(got)
        if not carried.any():
            continue
        pairs = by_id(ref, got, mapping, carried)
        taken_i, taken_j = {i for i, _ in pairs}, {j for _, j in pairs}
        rest = carried.copy()
        rest[list(taken_j)] = False
        pairs += [(i, j) for i, j in greedy(ref, got, sigmas, min_oks, rest)
                  if i not in taken_i]
        scores += [oks(ref.keypoints[i], got.keypoints[j], sigmas)[0] for i, j in pairs]
        unmatched += int(carried.sum()) - len(pairs)
        base_people += len(ref)
        base_matched += len(pairs)
    return scores, unmatched, base_people, base_matched


def by_id(ref: Poses, got: Poses, mapping: dict[int, int], carried: np.ndarray
          ) -> list[tuple[int, int]]:
    """Carried people of ``got`` whose id maps to an id present in ``ref``."""
    where = {int(t): i for i, t in enumerate(ref.track_ids) if t >= 0}
    pairs = []
    for j in np.flatnonzero(carried):
        i = where.get(mapping.get(int(got.track_ids[j]), -2))
        if i is not None:
            pairs.append((i, int(j)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--height", type=int, default=None,
                        help="network input height (default 480 without --min-person-height)")
    parser.add_argument("--min-person-height", type=int, default=None, metavar="PX")
    parser.add_argument("--motion", choices=("off", "on"), default="off")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--intervals", type=interval_arg, nargs="+", default=[1, 2])
    parser.add_argument("--interval-max", type=int, default=2,
                        help="[model].interval_max of the auto run")
    parser.add_argument("--min-oks", type=float, default=0.1,
                        help="least OKS of a greedy match (people without an id match)")
    args = parser.parse_args()
    if args.height is None and args.min_person_height is None:
        args.height = 480
    with tempfile.TemporaryDirectory() as tmp:
        runs = {n: run(args.video, args.model, interval=n, frames=args.frames,
                       height=args.height, out=Path(tmp), interval_max=args.interval_max,
                       min_person_height=args.min_person_height, motion=args.motion)
                for n in [0, *args.intervals]}
    base, base_fps, _ = runs[0]
    sigmas = keypoint_sigmas(base[0].skeleton)
    base_changed, base_matches = id_changes(base)
    scale = (f"--height {args.height}" if args.height is not None
             else f"--min-person-height {args.min_person_height}")
    print(f"{args.video.name}, {args.model.name} at {scale}, --motion {args.motion}, "
          f"{len(base)} frames")
    print(f"interval 0: {base_fps:.2f} fps, id changes {base_changed} of {base_matches} "
          "frame-to-frame matches")
    for n in args.intervals:
        poses, fps, inferred = runs[n]
        scores, unmatched, people, matched = agreement(base, poses, sigmas, args.min_oks)
        changed, matches = id_changes(poses)
        q = statistics.quantiles(scores, n=4) if len(scores) > 1 else [float("nan")] * 3
        ratio = f"{changed / base_changed:.2f}x" if base_changed else "n/a: none"
        print(f"interval {n}: {fps:.2f} fps ({fps / base_fps:.2f}x), {inferred} of "
              f"{len(poses)} frames inferred; carried people "
              f"{len(scores) + unmatched}: OKS median {q[1]:.3f} (quartiles {q[0]:.3f}, "
              f"{q[2]:.3f}), {unmatched} unmatched; recall on carried frames "
              f"{matched}/{people}; id changes {changed} of {matches} ({ratio} at "
              "interval 0)")


if __name__ == "__main__":
    main()
