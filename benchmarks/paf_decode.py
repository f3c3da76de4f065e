"""PAF decode time per frame: vtest maps (real model) and a synthetic crowd of 30.

Runs the shared model once over the first N frames of ../shared/media/vtest.mp4 (maps
cached under .cache/), then times PafDecoder on every frame's maps and on a synthetic
crowd. ``--naive`` also times a straightforward loop decoder on 4x-upsampled maps (the
usual Python implementation) for context. Prints medians in milliseconds.

    python benchmarks/paf_decode.py [--frames 200] [--naive]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from streampose.backends.fake_people import crowd, render_maps
from streampose.pose import COCO18, PafDecoder

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CACHE = ROOT / ".cache"


def vtest_maps(frames: int) -> np.ndarray:
    """(N, 57, h, w) maps of the first ``frames`` vtest frames, computed once and cached."""
    cache = CACHE / f"vtest_maps_{frames}.npy"
    if cache.exists():
        return np.load(cache)
    import onnxruntime as ort

    session = ort.InferenceSession(str(SHARED / "models/openpose-mnv2s-coco18.onnx"),
                                   providers=["CPUExecutionProvider"])
    capture = cv2.VideoCapture(str(SHARED / "media/vtest.mp4"))
    maps = []
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        new_w = round(frame.shape[1] * 368 / frame.shape[0])
        batch = np.zeros((1, 368, -(-new_w // 8) * 8, 3), np.float32)
        batch[0, :, :new_w] = cv2.resize(frame, (new_w, 368), interpolation=cv2.INTER_LINEAR)
        maps.append(session.run(None, {"image:0": batch})[0][0].transpose(2, 0, 1))
    CACHE.mkdir(exist_ok=True)
    np.save(cache, np.stack(maps))
    return np.stack(maps)


def median_ms(decode, inputs, repeat: int = 1) -> tuple[float, int]:
    times, people = [], 0
    for heat, pafs in inputs:
        for _ in range(repeat):
            start = time.perf_counter()
            people_found = decode(heat, pafs)
            times.append(time.perf_counter() - start)
        people += len(people_found)
    return statistics.median(times) * 1000, people


def naive_decode(heat: np.ndarray, pafs: np.ndarray, up: int = 4) -> list[list[int]]:
    """A plain per-pair loop decoder on upsampled maps, as most Python ports do it."""
    heat = np.stack([cv2.resize(m, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
                     for m in heat[:18]])
    pafs = np.stack([cv2.resize(m, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
                     for m in pafs])
    peaks = []
    for m in heat:
        m = cv2.GaussianBlur(m, (0, 0), 3)
        top = np.pad(m, 1)
        is_max = (m >= top[:-2, 1:-1]) & (m >= top[2:, 1:-1]) & (m >= top[1:-1, :-2])
        is_max &= (m >= top[1:-1, 2:]) & (m > 0.1)
        peaks.append([(x, y, m[y, x]) for y, x in zip(*np.nonzero(is_max), strict=True)])
    people: list[list[int]] = []
    for (ka, kb), (cx, cy) in zip(COCO18.limbs, COCO18.paf_channels, strict=True):
        pairs = []
        for i, (xa, ya, _) in enumerate(peaks[ka]):
            for j, (xb, yb, _) in enumerate(peaks[kb]):
                norm = max(np.hypot(xb - xa, yb - ya), 1e-6)
                ux, uy = (xb - xa) / norm, (yb - ya) / norm
                vals = []
                for t in np.linspace(0, 1, 10):
                    x, y = round(xa + t * (xb - xa)), round(ya + t * (yb - ya))
                    vals.append(pafs[cx, y, x] * ux + pafs[cy, y, x] * uy)
                score = np.mean(vals) + min(0.5 * heat.shape[1] / norm - 1, 0)
                if np.mean(np.array(vals) > 0.05) >= 0.8 and score > 0:
                    pairs.append((score, i, j))
        used_a, used_b = set(), set()
        for _, i, j in sorted(pairs, reverse=True):
            if i not in used_a and j not in used_b:
                used_a.add(i)
                used_b.add(j)
                people.append([ka, i, kb, j])
    return people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--naive", action="store_true", help="also time the loop decoder")
    args = parser.parse_args()
    decoder = PafDecoder(COCO18)
    maps = vtest_maps(args.frames)
    frames = [(m[:19], m[19:]) for m in maps]
    shape = (46, 82)
    crowd_maps = [render_maps(crowd(30, shape=shape, height=14, seed=s), shape=shape)
                  for s in range(5)]
    ms, people = median_ms(decoder, frames)
    print(f"vtest ({len(frames)} frames, maps {maps.shape[2]}x{maps.shape[3]}): "
          f"median {ms:.2f} ms/frame, {people / len(frames):.1f} people/frame")
    ms_crowd, found = median_ms(decoder, crowd_maps, repeat=10)
    print(f"synthetic crowd of 30 (maps {shape[0]}x{shape[1]}): median {ms_crowd:.2f} ms, "
          f"{found / len(crowd_maps):.1f} people found")
    if args.naive:
        naive_ms, _ = median_ms(naive_decode, frames[:50])
        naive_crowd, _ = median_ms(naive_decode, crowd_maps[:2])
        print(f"naive loop decoder (4x upsampled): vtest {naive_ms:.1f} ms/frame "
              f"({naive_ms / ms:.0f}x slower), crowd {naive_crowd:.0f} ms "
              f"({naive_crowd / ms_crowd:.0f}x slower)")


if __name__ == "__main__":
    main()
