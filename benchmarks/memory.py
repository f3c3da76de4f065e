"""What a run holds in memory, per model: the summary's figures of the whole process tree.

Runs ``streampose run VIDEO --model NAME --json ... --summary ...`` once per model of
../shared/models (each in its own process, so the tree is the command's alone: the
parent, the fork server, the resource tracker, every stage) and prints a Markdown table
of the summary's ``memory`` (:mod:`streampose.observe.memory`): the tree's peak PSS and
RSS, its processes, and the largest process by peak PSS.

    python benchmarks/memory.py [--frames 100] [--video ../shared/media/vtest.mp4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = ("openpose-mnv2s-coco18", "openpose-mnthin-coco18", "yolo11n-pose")


def run_memory(name: str, video: Path, frames: int, out: Path) -> dict[str, Any]:
    """The summary's ``memory`` of one run of model ``name``."""
    summary = out / f"{name}.json"
    command = [sys.executable, "-m", "streampose", "run", str(video), "--model", name,
               "--json", str(out / f"{name}.jsonl"), "--summary", str(summary),
               "--max-frames", str(frames)]
    env = {**os.environ, "STREAMPOSE_MODELS": str(SHARED / "models"), "PYTHONPATH": str(ROOT)}
    subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    memory: dict[str, Any] = json.loads(summary.read_text())["memory"]
    return memory


def row(name: str, memory: dict[str, Any]) -> str:
    tree = memory["tree"]
    largest = max(memory["processes"], key=lambda p: p["peak_pss_mb"])
    return (f"| `{name}` | {tree['peak_pss_mb']:.0f} | {tree['peak_rss_mb']:.0f} | "
            f"{tree['processes']} | {largest['process']} {largest['peak_pss_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per run")
    parser.add_argument("--video", type=Path, default=SHARED / "media/vtest.mp4")
    args = parser.parse_args()
    if not args.video.exists():
        raise SystemExit(f"needs {args.video}")
    lines = ["| model | tree peak PSS MB | tree peak RSS MB | processes | largest (PSS MB) |",
             "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        lines += [row(name, run_memory(name, args.video, args.frames, Path(tmp)))
                  for name in MODELS]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
