"""Ring hand-off rate: 1080p BGR frames from a producer process to a consumer process.

The producer copies a pre-made frame into each slot (the one copy decode would make);
the consumer reads in place (touches a few bytes) and releases. Both are spawned.

    python benchmarks/ring.py --frames 2000 --slots 8 --width 1920 --height 1080
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from fractions import Fraction
from typing import Any

import numpy as np

from streampose.transport.messages import FLAG_EOS, FRAME_CODEC, FrameHeader
from streampose.transport.ring import SharedRing
from streampose.transport.shm import sweep_stale_segments

WAIT_S = 10.0


def produce(ring: SharedRing, frames: int, shape: tuple[int, int, int], start: Any) -> None:
    frame = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    tb = Fraction(1, 90000)
    height, width, _ = shape
    start.wait(WAIT_S)
    for seq in range(frames):
        slot, _ = ring.acquire_write(WAIT_S)
        np.copyto(ring.array(slot, shape, np.uint8), frame)
        ring.publish(slot, FrameHeader(seq=seq, pts=seq * 3000, time_base=tb, wall=time.time(),
                                       width=width, height=height, shape=shape))  # fmt: skip
    slot, _ = ring.acquire_write(WAIT_S)
    ring.publish(slot, FrameHeader(seq=frames, flags=FLAG_EOS), pinned=True)
    ring.close()


def consume(ring: SharedRing, warmup: int, times: Any) -> None:
    checksum = 0
    t_first = t_last = 0.0
    count = 0
    while (got := ring.acquire_read(WAIT_S)) is not None:
        slot, header = got
        if header.eos:
            ring.release(slot)
            break
        frame = ring.view(slot, header.shape, header.dtype)
        checksum += int(frame[0, 0, 0]) + int(frame[-1, -1, -1])
        del frame
        ring.release(slot)
        count += 1
        if count == warmup:
            t_first = time.perf_counter()
        t_last = time.perf_counter()
    times.put((count, t_first, t_last, checksum))
    ring.close()


def copy_baseline(shape: tuple[int, int, int], frames: int) -> float:
    """Frames/s of the same copy in one process, for scale."""
    src = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    dst = np.empty_like(src)
    start = time.perf_counter()
    for _ in range(frames):
        np.copyto(dst, src)
    return frames / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> None:
    ctx = mp.get_context("spawn")
    shape = (args.height, args.width, 3)
    frame_bytes = args.height * args.width * 3
    sweep_stale_segments()
    ring = SharedRing.create(name="bench", slots=args.slots, slot_bytes=frame_bytes,
                             codec=FRAME_CODEC, ctx=ctx)
    try:
        start, times = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=produce, args=(ring, args.frames, shape, start)),
            ctx.Process(target=consume, args=(ring, args.warmup, times)),
        ]
        for proc in procs:
            proc.start()
        start.set()
        count, t_first, t_last, _ = times.get(timeout=WAIT_S + args.frames)
        for proc in procs:
            proc.join(WAIT_S)
    finally:
        ring.close()
        ring.unlink()
    report(args, count, t_last - t_first, frame_bytes, shape)


def report(args: argparse.Namespace, count: int, elapsed: float, frame_bytes: int,
           shape: tuple[int, int, int]) -> None:  # fmt: skip
    timed = count - args.warmup
    fps = timed / elapsed
    print(f"frames {count} ({timed} timed after {args.warmup} warm-up), slots {args.slots}, "
          f"frame {args.width}x{args.height}x3 uint8 ({frame_bytes / 1e6:.2f} MB)")  # fmt: skip
    print(f"ring hand-off: {fps:.0f} frames/s, {fps * frame_bytes / 1e9:.2f} GB/s")
    base = copy_baseline(shape, min(args.frames, 500))
    print(f"single-process copy baseline: {base:.0f} frames/s, "
          f"{base * frame_bytes / 1e9:.2f} GB/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--warmup", type=int, default=50, help="frames excluded from timing")
    args = parser.parse_args()
    if args.frames <= args.warmup:
        parser.error("--frames must exceed --warmup")
    run(args)


if __name__ == "__main__":
    main()
