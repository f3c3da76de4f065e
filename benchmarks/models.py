"""Every model in ../shared/models side by side, measured in one run on this machine.

For each model, at its default input size (the spec's ``input_height``):
  - COCO keypoint AP on ../shared/eval/coco4 (``streampose eval``'s pipeline);
  - model alone, ms per 1080p frame (letterboxed beforehand), ONNX Runtime with 1 and 2
    threads (median of ``--repeats`` runs);
  - head decode, ms per frame (median): payload from the raw outputs, written into a
    map-ring slot and decoded into poses, on vtest frames and on a crowd photo;
  - pipeline frames/s (steady state) on vtest_1080p_300f.mp4 writing JSON lines, batch 1,
    and batch 4 where the model allows batches.
Prints a Markdown table (the README's "Models" table comes from it).

    python benchmarks/models.py [--frames 150] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from frames import read_frames  # benchmarks/frames.py (the script's folder is on sys.path)

from streampose import Pipeline, PipelineConfig
from streampose.backends import create_backend
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.evaluate import evaluate
from streampose.heads import HeadSettings, make_head
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import letterbox_into, plan_for_spec
from streampose.transport.messages import FRAME_CODEC, FrameHeader
from streampose.transport.ring import SharedRing

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = ("openpose-mnv2s-coco18.onnx", "openpose-mnthin-coco18.onnx", "yolo11n-pose.onnx")
COCO4 = SHARED / "eval/coco4"
VIDEO_1080P = SHARED / "media/vtest_1080p_300f.mp4"
VTEST = SHARED / "media/vtest.mp4"
CROWD = SHARED / "images/apink2.jpg"


@dataclass
class Row:
    model: str
    family: str
    skeleton: str
    size: str
    ap: float
    ms_1: float
    ms_2: float
    decode_vtest: float
    decode_crowd: float
    fps: dict[int, float]
    batchable: bool


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def network_input(frame: np.ndarray, spec: ModelSpec) -> np.ndarray:
    h, w = frame.shape[:2]
    lb = plan_for_spec(spec, src_w=w, src_h=h)
    out = np.empty(spec.input_shape(1, lb.in_h, lb.in_w)[1:], np.float32)
    letterbox_into(frame, lb, out, spec=spec)
    return out[None]


def model_alone(path: Path, spec: ModelSpec, frame: np.ndarray, threads: int,
                repeats: int) -> float:
    x = network_input(frame, spec)
    with create_backend("onnxruntime", spec=spec, model_path=path, threads=threads) as backend:
        return median_ms(lambda: backend.infer(x), repeats)


def decode_ms(path: Path, spec: ModelSpec, frames: list[np.ndarray]) -> float:
    """Median ms of payloads() + write + decode() per frame (the model runs untimed)."""
    head = make_head(spec, HeadSettings())
    times = []
    with create_backend("onnxruntime", spec=spec, model_path=path, threads=2) as backend:
        for frame in frames:
            x = network_input(frame, spec)
            outputs = backend.infer(x)
            lb = plan_for_spec(spec, src_w=frame.shape[1], src_h=frame.shape[0])
            times.append(_decode_once(head, outputs, head.payload_bytes([lb])))
    return 1000 * statistics.median(times)


def _decode_once(head: Any, outputs: dict[str, np.ndarray], slot_bytes: int) -> float:
    ring = SharedRing.create(name="bench-maps", slots=1, slot_bytes=slot_bytes,
                             codec=FRAME_CODEC)
    try:
        slot, _ = ring.acquire_write(1.0)
        start = time.perf_counter()
        payload = head.payloads(outputs, 1)[0]
        shape, dtype = payload.write(ring, slot)
        head.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype))
        elapsed = time.perf_counter() - start
        ring.release(slot)
        return elapsed
    finally:
        ring.close()
        ring.unlink()


def pipeline_fps(path: Path, batch: int, frames: int, out: Path) -> float:
    config = PipelineConfig(
        sources=(str(VIDEO_1080P),), model=ModelConfig(path=path),
        batching=BatchingConfig(batch=batch), outputs=OutputsConfig(json=out / "p.jsonl"),
        performance=PerformanceConfig(max_frames=frames))
    return Pipeline(config).run().steady_fps or 0.0


def coco_ap(path: Path) -> float:
    config = PipelineConfig(sources=(str(COCO4),), model=ModelConfig(path=path))
    return evaluate(config, COCO4 / "test_coco.json").AP


def measure(name: str, args: argparse.Namespace, out: Path) -> Row:
    path = SHARED / "models" / name
    spec = resolve_spec(path)
    frame_1080p = read_frames(VIDEO_1080P, 1)[0]
    vtest = read_frames(VTEST, args.decode_frames)
    crowd = [cv2.imread(str(CROWD))] * 5
    batches = (1, 4) if spec.max_batch == 0 else (1,)
    lb = plan_for_spec(spec, src_w=1920, src_h=1080)
    return Row(
        model=name, family=spec.head, skeleton=spec.skeleton,
        size=f"{lb.in_w}x{lb.in_h}", ap=coco_ap(path),
        ms_1=model_alone(path, spec, frame_1080p, 1, args.repeats),
        ms_2=model_alone(path, spec, frame_1080p, 2, args.repeats),
        decode_vtest=decode_ms(path, spec, vtest), decode_crowd=decode_ms(path, spec, crowd),
        fps={b: pipeline_fps(path, b, args.frames, out) for b in batches},
        batchable=spec.max_batch == 0)


def table(rows: list[Row]) -> str:
    base = rows[0].ms_2
    lines = ["| model | head | skeleton | input for 1080p | coco4 AP | model ms (1 / 2 thr) "
             "| cost vs mnv2s | decode ms (vtest / crowd) | pipeline fps b1 | b4 "
             "| batchable |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        b4 = f"{r.fps[4]:.1f}" if 4 in r.fps else "-"
        lines.append(
            f"| {r.model} | {r.family} | {r.skeleton} | {r.size} | {r.ap:.3f} | "
            f"{r.ms_1:.0f} / {r.ms_2:.0f} | {r.ms_2 / base:.2f}x | "
            f"{r.decode_vtest:.2f} / {r.decode_crowd:.2f} | {r.fps[1]:.1f} | {b4} | "
            f"{'yes' if r.batchable else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="pipeline frames per run")
    parser.add_argument("--repeats", type=int, default=15, help="model-alone runs timed")
    parser.add_argument("--decode-frames", type=int, default=20, help="vtest frames decoded")
    args = parser.parse_args()
    missing = [p for p in (COCO4, VIDEO_1080P, VTEST, CROWD) if not p.exists()]
    if missing:
        raise SystemExit(f"needs ../shared: {', '.join(map(str, missing))} not found")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, args, Path(tmp)) for name in MODELS]
    print(table(rows))


if __name__ == "__main__":
    main()
