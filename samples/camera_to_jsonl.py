#!/usr/bin/env python3
"""Tail a live camera into JSON lines for a while, reconnecting if it drops.

    python samples/camera_to_jsonl.py rtsp://127.0.0.1:8554/cam0 poses.jsonl \
        --model ../shared/models/openpose-mnv2s-coco18.onnx --duration 60

Each line has the capture time (``wall``), so latency can be checked from outside:
``time_of_reading - wall``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streampose import Pipeline, PipelineConfig
from streampose.config import LiveConfig, ModelConfig, OutputsConfig
from streampose.errors import StreamposeError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("camera", help="rtsp://..., http://..., /dev/videoN or N")
    parser.add_argument("jsonl", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    args = parser.parse_args()
    try:
        config = PipelineConfig(sources=(args.camera,), model=ModelConfig(path=args.model),
                                outputs=OutputsConfig(json=args.jsonl),
                                live=LiveConfig(duration_s=args.duration))
        summary = Pipeline(config).run()
    except StreamposeError as exc:  # one line and the exit code, no traceback
        print(f"camera_to_jsonl: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    for stream in summary.streams:
        print(f"{stream['source']}: {stream['frames_out']} frames, {stream['dropped']} dropped, "
              f"{stream['reconnects']} reconnects, latency p95 {stream['latency_p95_s']} s")


if __name__ == "__main__":
    main()
