#!/usr/bin/env python3
"""Count the people each camera sees, live, through the streaming Python API.

    python samples/count_people.py rtsp://127.0.0.1:8554/cam0 rtsp://127.0.0.1:8554/cam1 \
        --model ../shared/models/openpose-mnv2s-coco18.onnx

One line per second: each camera's people in its latest frame. Ctrl-C (or --duration)
ends it; the run stops cleanly either way. Files work too (the run then ends with them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import streampose
from streampose.errors import StreamposeError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="rtsp://..., http://..., a video file...")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="count only people scored above this (default: everyone found)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between lines")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    args = parser.parse_args()
    try:
        count(args)
    except StreamposeError as exc:  # one line and the exit code, no traceback
        print(f"count_people: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def count(args: argparse.Namespace) -> None:
    """Print each camera's count every ``args.every`` seconds while results come."""
    people: dict[str, int] = {}
    next_line = time.monotonic() + args.every
    options = {} if args.duration is None else {"duration": args.duration}
    with streampose.stream(args.sources, model=args.model, **options) as results:
        for result in results:
            people[result.camera] = int((result.poses.scores > args.min_score).sum())
            if time.monotonic() >= next_line:
                next_line += args.every
                print("  ".join(f"{camera}: {n}" for camera, n in people.items()), flush=True)
    print("  ".join(f"{camera}: {n}" for camera, n in people.items()), flush=True)
    dropped = sum(results.dropped)
    if dropped:
        print(f"({dropped} results skipped to keep up)", file=sys.stderr)


if __name__ == "__main__":
    main()
