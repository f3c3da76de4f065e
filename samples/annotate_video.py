#!/usr/bin/env python3
"""Annotate a video file: skeletons, ids and boxes drawn, keypoints as JSON lines.

    python samples/annotate_video.py IN.mp4 OUT.mp4 \
        --model ../shared/models/openpose-mnv2s-coco18.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streampose import Pipeline, PipelineConfig
from streampose.config import DrawConfig, ModelConfig, OutputsConfig
from streampose.errors import StreamposeError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", help="input video file")
    parser.add_argument("output", help="annotated MP4 to write")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="also write JSON lines here")
    args = parser.parse_args()
    try:
        config = PipelineConfig(sources=(args.video,), model=ModelConfig(path=args.model),
                                outputs=OutputsConfig(video=args.output, json=args.json),
                                draw=DrawConfig(boxes=True))
        summary = Pipeline(config).run()
    except StreamposeError as exc:  # one line and the exit code, no traceback
        print(f"annotate_video: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    print(f"{summary.frames_out} frames written to {args.output} "
          f"({summary.steady_fps or summary.fps:.1f} fps)")


if __name__ == "__main__":  # the pipeline's stages are spawned processes
    main()
