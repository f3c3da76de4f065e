"""Person recall on surveillance footage: each configuration against hand-checked boxes.

For each configuration (a set of ``streampose run`` arguments) and each video, runs the
real pipeline on the video (``streampose run VIDEO ARGS -o out.mp4 --json out.jsonl
--summary out.json``, up to the last ground-truth frame unless ``--max-frames`` says
otherwise), scores the poses of the ground-truth frames against the person boxes of
``benchmarks/recall_gt/people.json`` (how they were made: recall_gt/README.md) and prints
per configuration: recall, precision, people per frame (ground truth vs poses found),
steady fps (the run's ``--summary``), and with ``--coco4`` the COCO keypoint AP of the
same configuration on ../shared/eval/coco4 (``streampose eval``), so that photos with large
people are not traded away silently.

Matching rule (benchmarks/recall_match.py): a pose matches a box when more than half of
its keypoints with confidence above 0.2 lie inside the box grown by 10% of its size on
each side; one-to-one, greedy by that fraction (ties: IoU of the box with the pose's
keypoint box); counted boxes first, then the poses left over against ``ignore`` boxes
(people mostly hidden or cut by the frame edge), which count neither way.
recall = hits / counted people; precision = hits / (poses - poses on ignore boxes).

Default configurations (the README's main command, the two other models as they run
today); ``--config "ARGS"`` (repeatable) adds one, ``--no-defaults`` drops the defaults:

    nice python benchmarks/recall.py [--video vtest.mp4 ...] [--config "--model M --height 480"]
        [--coco4] [--json figures.json] [--no-video] [--max-frames N] [--keep DIR]

Run from anywhere: relative paths in the configurations are taken from the repository root.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recall_match import Pose, Rule, Totals, parse_truth, score_run

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GROUND_TRUTH = Path(__file__).resolve().parent / "recall_gt" / "people.json"
COCO4 = "../shared/eval/coco4"
DEFAULT_CONFIGS = (
    "--model ../shared/models/openpose-mnv2s-coco18.onnx --height 368",
    "--model ../shared/models/openpose-mnthin-coco18.onnx --height 368",
    "--model ../shared/models/yolo11n-pose.onnx",
)


@dataclass
class Figures:
    """One configuration on one video."""

    video: str
    config: str
    frames_scored: int
    people: int
    poses: int
    hits: int
    ignored: int
    recall: float
    precision: float
    people_per_frame: float
    found_per_frame: float
    steady_fps: float | None
    fps: float | None
    coco4_ap: float | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", type=Path, default=GROUND_TRUTH, help="ground-truth JSON")
    parser.add_argument("--media", type=Path, default=SHARED / "media",
                        help="folder holding the videos the ground truth names")
    parser.add_argument("--video", action="append", default=None,
                        help="video of the ground truth to run (repeatable; vtest.mp4)")
    parser.add_argument("--config", action="append", default=[], metavar="ARGS",
                        help="one more configuration: streampose run arguments, quoted")
    parser.add_argument("--no-defaults", action="store_true",
                        help="run only the --config configurations")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="frames to run (default: up to the last ground-truth frame)")
    parser.add_argument("--no-video", action="store_true",
                        help="write no annotated video (the README's command writes one)")
    parser.add_argument("--min-score", type=float, default=Rule.min_score,
                        help="keypoint confidence above which a keypoint counts as found")
    parser.add_argument("--coco4", action="store_true",
                        help="also COCO keypoint AP on ../shared/eval/coco4 per configuration")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep each run's outputs (JSON lines, video, summary) in DIR/N/")
    args = parser.parse_args(argv)
    args.video = args.video or ["vtest.mp4"]
    args.configs = ([] if args.no_defaults else list(DEFAULT_CONFIGS)) + args.config
    if not args.configs:
        parser.error("no configuration to run (--no-defaults without --config)")
    return args


def label(config: str) -> str:
    """A short name for a configuration: the model's stem, then the other arguments."""
    words = shlex.split(config)
    if "--model" in words[:-1]:
        at = words.index("--model")
        model = Path(words[at + 1]).stem
        words = [model, *words[:at], *words[at + 2:]]
    return " ".join(words)


def read_poses(path: Path, stream: int = 0) -> dict[int, list[Pose]]:
    """Frame index -> the keypoints of each pose, from a run's JSON lines (one stream)."""
    poses: dict[int, list[Pose]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("stream", 0) == stream:
            poses[int(record["frame"])] = [p["keypoints"] for p in record["persons"]]
    return poses


def run_pipeline(video: Path, config: str, max_frames: int | None, out: Path,
                 with_video: bool) -> tuple[dict[int, list[Pose]], dict[str, Any]]:
    """``streampose run`` on ``video`` with ``config``: its poses and its summary."""
    jsonl, summary = out / "out.jsonl", out / "summary.json"
    command = [sys.executable, "-m", "streampose", "run", str(video), *shlex.split(config),
               "--json", str(jsonl), "--summary", str(summary), "--no-progress"]
    if with_video:
        command += ["-o", str(out / "out.mp4")]
    if max_frames:
        command += ["--max-frames", str(max_frames)]
    _check(subprocess.run(command, cwd=ROOT, capture_output=True, text=True), command)
    return read_poses(jsonl), json.loads(summary.read_text())


def coco4_ap(config: str, out: Path) -> float:
    """COCO keypoint AP of ``config`` on coco4 (``streampose eval``; eval's options only)."""
    result = out / "coco4.json"
    command = [sys.executable, "-m", "streampose", "eval", COCO4, f"{COCO4}/test_coco.json",
               *shlex.split(config), "--json", str(result), "--no-progress"]
    _check(subprocess.run(command, cwd=ROOT, capture_output=True, text=True), command)
    return float(json.loads(result.read_text())["AP"])


def _check(done: subprocess.CompletedProcess[str], command: list[str]) -> None:
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-20:])
        raise SystemExit(f"exit {done.returncode}: {shlex.join(command)}\n{tail}")


def figures(video: str, config: str, totals: Totals, summary: dict[str, Any]) -> Figures:
    """The printed figures of one run."""
    return Figures(video=video, config=label(config), frames_scored=totals.frames,
                   people=totals.people, poses=totals.poses, hits=totals.hits,
                   ignored=totals.ignored, recall=round(totals.recall, 3),
                   precision=round(totals.precision, 3),
                   people_per_frame=round(totals.people_per_frame, 2),
                   found_per_frame=round(totals.found_per_frame, 2),
                   steady_fps=summary.get("steady_fps"), fps=summary.get("fps"))


def measure(args: argparse.Namespace, video: str, truth: dict[str, Any], config: str,
            out: Path) -> Figures:
    """One configuration on one video (and on coco4 with ``--coco4``), outputs in ``out``."""
    people = parse_truth(truth)
    max_frames = args.max_frames if args.max_frames is not None else max(people) + 1
    poses, summary = run_pipeline(args.media / video, config, max_frames, out,
                                  not args.no_video)
    row = figures(video, config, score_run(poses, people, Rule(min_score=args.min_score)),
                  summary)
    if args.coco4:
        row.coco4_ap = round(coco4_ap(config, out), 3)
    return row


def outputs(keep: Path | None, run: int) -> AbstractContextManager[str]:
    """The folder one run writes to: ``keep/run`` (kept), else a temporary one."""
    if keep is None:
        return tempfile.TemporaryDirectory(prefix="recall-")
    folder = keep / str(run)
    folder.mkdir(parents=True, exist_ok=True)
    return nullcontext(str(folder))


def table(rows: list[Figures]) -> str:
    """The figures as a Markdown table."""
    lines = ["| video | configuration | recall | precision | people/frame (GT / found) "
             "| steady fps | coco4 AP |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        fps = f"{r.steady_fps:.1f}" if r.steady_fps else "-"
        ap = f"{r.coco4_ap:.3f}" if r.coco4_ap is not None else "-"
        lines.append(f"| {r.video} | {r.config} | {r.recall:.2f} ({r.hits}/{r.people}) "
                     f"| {r.precision:.2f} | {r.people_per_frame:.1f} / {r.found_per_frame:.1f} "
                     f"| {fps} | {ap} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    videos = json.loads(args.gt.read_text())["videos"]
    rows: list[Figures] = []
    for video in args.video:
        if video not in videos:
            raise SystemExit(f"{video}: not in {args.gt} (has: {', '.join(videos)})")
        for config in args.configs:
            with outputs(args.keep, len(rows)) as out:
                rows.append(measure(args, video, videos[video], config, Path(out)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
