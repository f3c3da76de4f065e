"""Letterbox time per frame: ``letterbox_into`` from a source frame into the model input.

Times the host letterbox (resize, pad, normalise into a preallocated float32 buffer) for a
few source sizes at the shipped model's input height; prints the median and the 90th
percentile in milliseconds. It was about 2-3 ms for 1080p on a 2-core CPU box.

    python benchmarks/letterbox.py [--repeats 50] [--height 368]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from streampose.models.spec import builtin_specs
from streampose.pose.letterbox import letterbox_into, plan_letterbox

SIZES = ((640, 360), (1280, 720), (1920, 1080), (3840, 2160))


def time_letterbox(width: int, height: int, *, input_height: int, repeats: int) -> list[float]:
    """Seconds per ``letterbox_into`` call for a random ``width`` x ``height`` frame."""
    spec = builtin_specs()["openpose-mnv2s-coco18"]
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    lb = plan_letterbox(src_w=width, src_h=height, height=input_height, stride=spec.stride)
    out = np.empty(spec.input_shape(1, lb.in_h, lb.in_w)[1:], np.float32)
    letterbox_into(image, lb, out, spec=spec)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        letterbox_into(image, lb, out, spec=spec)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--height", type=int, default=368, help="model input height")
    args = parser.parse_args()
    for width, height in SIZES:
        times = time_letterbox(width, height, input_height=args.height, repeats=args.repeats)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{width}x{height} -> height {args.height}: median "
              f"{statistics.median(times) * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms")


if __name__ == "__main__":
    main()
