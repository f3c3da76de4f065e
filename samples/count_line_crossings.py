#!/usr/bin/env python3
"""Count people crossing a vertical line, from streampose's JSON lines (tracked ids).

    streampose run video.mp4 --json poses.jsonl --model MODEL.onnx
    python samples/count_line_crossings.py poses.jsonl --x 240

A person crosses when the neck (or the mean of the keypoints found) of the same track id
moves from one side of ``x`` to the other. Reads the file as it grows with ``--follow``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

NECK = 1  # COCO-18 / BODY-25 neck index


def anchor_x(keypoints: list[list[float]]) -> float | None:
    """The neck's x, or the mean x of the keypoints found; None for an empty person."""
    if len(keypoints) > NECK and keypoints[NECK][2] > 0:
        return keypoints[NECK][0]
    xs = [k[0] for k in keypoints if k[2] > 0]
    return sum(xs) / len(xs) if xs else None


def records(path: Path, follow: bool) -> Iterator[dict]:
    with path.open(encoding="utf-8") as lines:
        while True:
            line = lines.readline()
            if line.endswith("\n"):
                yield json.loads(line)
            elif follow:
                time.sleep(0.2)
            else:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--x", type=float, required=True, help="line position in pixels")
    parser.add_argument("--follow", action="store_true", help="keep reading as it grows")
    args = parser.parse_args()
    try:
        count(args)
    except OSError as exc:  # one line and a non-zero exit, no traceback
        sys.exit(f"count_line_crossings: error: {args.jsonl}: {exc.strerror or exc}")
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        sys.exit(f"count_line_crossings: error: {args.jsonl}: not streampose JSON lines "
                 f"({type(exc).__name__}: {exc})")


def count(args: argparse.Namespace) -> None:
    """Print each crossing as it is seen, then the totals as one JSON object."""
    side: dict[tuple[int, int], bool] = {}
    counts = {"left_to_right": 0, "right_to_left": 0}
    for record in records(args.jsonl, args.follow):
        for person in record["persons"]:
            x = anchor_x(person["keypoints"])
            if person["id"] < 0 or x is None:
                continue
            key, right = (record["stream"], person["id"]), x >= args.x
            if key in side and side[key] != right:
                counts["left_to_right" if right else "right_to_left"] += 1
                print(f"frame {record['frame']}: id {person['id']} crossed "
                      f"{'left to right' if right else 'right to left'}", flush=True)
            side[key] = right
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
