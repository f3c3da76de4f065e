"""The machine bound and how close the pipeline comes to it, measured in one run.

For each video (default: ../shared/media/vtest_1080p_300f.mp4 and vtest.mp4), with the
shared model at height 368:

1. **Each stage alone**, one thread everywhere (OpenCV 1, ONNX Runtime 1 intra-op
   thread, decoder 1, x264 1), frame by frame in this process: the CPU (process time)
   per frame of decode + BGR, letterbox, inference, PAF decoding, tracking, drawing,
   H.264 encoding (ultrafast, colour conversion included) and JSON lines.
   **Machine bound** = cores / (sum of those): the most frames per second any
   arrangement of these stages can reach on this machine's cores.
2. **The pipeline** with default settings writing an annotated MP4 and JSON lines:
   steady fps (after start-up), overall fps, CPU per frame of each stage process (its
   whole CPU time, start-up included, over the frames out), and pipeline / bound.
3. **Plain loops** beside it, same frames: the project's serial loop
   (``benchmarks/pipeline_vs_serial.py``'s: OpenCV capture, letterbox, the model,
   PafDecoder, drawing, OpenCV writer) and a Lightweight-OpenPose-demo-style loop
   (OpenCV capture, resize + pad, the model, maps upsampled 4x with cubic
   interpolation, decoding, drawing, OpenCV writer). Both use ONNX Runtime's default
   threads, as a copied loop would.

    python benchmarks/machine_bound.py [--frames 300] [--quick] [--video PATH ...]

``--quick`` runs 12 frames of each video: proof that the script works, not figures.
Measure on a quiet machine; every figure is printed with the machine's core count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project and benchmarks/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks.pipeline_vs_serial import plain_loop  # noqa: E402
from streampose import Pipeline, PipelineConfig  # noqa: E402
from streampose.backends import create_backend  # noqa: E402
from streampose.config import (  # noqa: E402
    ModelConfig,
    OutputsConfig,
    PerformanceConfig,
    TrackingConfig,
)
from streampose.heads import make_head  # noqa: E402
from streampose.heads.paf import MapsPayload  # noqa: E402
from streampose.models.resolve import resolve_spec  # noqa: E402
from streampose.models.spec import ModelSpec  # noqa: E402
from streampose.outputs.base import FrameMeta  # noqa: E402
from streampose.outputs.encoder import VideoWriter  # noqa: E402
from streampose.outputs.jsonl import JsonLinesSink  # noqa: E402
from streampose.pose import COCO18, PafDecoder, Poses  # noqa: E402
from streampose.pose.letterbox import letterbox_into, plan_for_spec  # noqa: E402
from streampose.pose.tracking import PoseTracker  # noqa: E402
from streampose.render import SkeletonAnnotator, build_annotators  # noqa: E402
from streampose.sources import VideoFileSource  # noqa: E402
from streampose.stages.postprocess import to_frame  # noqa: E402
from streampose.transport.messages import FrameHeader  # noqa: E402

SHARED = ROOT.parent / "shared"
VIDEOS = (SHARED / "media/vtest_1080p_300f.mp4", SHARED / "media/vtest.mp4")
MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"
STAGES = ("decode+BGR", "letterbox", "inference", "PAF decode", "tracking", "drawing",
          "H.264 encode", "JSON")


@dataclass
class StageClock:
    """CPU seconds per stage over ``frames`` frames (process time: this process's threads)."""

    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    frames: int = 0

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        start = time.process_time()
        try:
            yield
        finally:
            self.cpu[stage] += time.process_time() - start

    def ms_per_frame(self) -> dict[str, float]:
        return {k: 1000 * v / max(1, self.frames) for k, v in self.cpu.items()}


def cores() -> int:
    return len(os.sched_getaffinity(0))


def stage_costs(video: Path, frames: int, height: int, out: Path) -> StageClock:
    """Every stage alone, single-threaded, one frame at a time."""
    cv2.setNumThreads(1)
    spec = resolve_spec(MODEL)
    head, decoder = make_head(spec), PafDecoder(COCO18)
    tracker = PoseTracker.from_config(TrackingConfig())
    annotators = build_annotators(ids=True)
    clock = StageClock()
    with VideoFileSource(path=video, threads=1) as source, \
            create_backend("onnxruntime", spec=spec, model_path=MODEL, threads=1) as backend, \
            JsonLinesSink(path=out / "alone.jsonl") as jsonl:
        info = source.info
        lb = plan_for_spec(spec, src_w=info.width, src_h=info.height, height=height)
        batch = np.empty(spec.input_shape(1, lb.in_h, lb.in_w), np.float32)
        writer = VideoWriter(path=out / "alone.mp4", width=info.width, height=info.height,
                             fps=info.fps or Fraction(25), time_base=info.time_base,
                             preset="ultrafast", threads=1)
        with writer:
            frame_iter = source.frames()
            for index in range(frames):
                with clock.timing("decode+BGR"):
                    frame = next(frame_iter, None)
                if frame is None:
                    break
                image = frame.image
                with clock.timing("letterbox"):
                    letterbox_into(image, lb, batch[0], spec=spec)
                with clock.timing("inference"):
                    outputs = backend.infer(batch)
                with clock.timing("PAF decode"):
                    [maps] = head.payloads(outputs, 1)
                    assert isinstance(maps, MapsPayload)
                    poses = _frame_poses(decoder(maps.heatmaps, maps.pafs), lb, image, spec)
                with clock.timing("tracking"):
                    poses = tracker.update(poses)
                with clock.timing("drawing"):
                    for annotator in annotators:
                        annotator.annotate(image, poses)
                with clock.timing("H.264 encode"):
                    writer.write(image, frame.pts)
                meta = FrameMeta(stream=0, frame=index, pts=frame.pts,
                                 pts_s=float(frame.pts * info.time_base), wall=time.time(),
                                 image_id=index)
                with clock.timing("JSON"):
                    jsonl.write(meta, poses, None)
                clock.frames += 1
            with clock.timing("H.264 encode"):
                writer.close()  # the encoder's buffered frames
    return clock


def _frame_poses(poses: Poses, lb: Any, image: np.ndarray, spec: ModelSpec) -> Poses:
    """Map-cell poses -> frame pixels, as the head and the postprocess stage do."""
    h, w = image.shape[:2]
    stride = spec.stride
    pixels = poses.transformed(scale=(stride, stride), offset=(stride / 2, stride / 2))
    return to_frame(pixels, FrameHeader(width=w, height=h, transform=lb.transform))


def pipeline(video: Path, frames: int, height: int, out: Path) -> dict[str, Any]:
    config = PipelineConfig(
        sources=(str(video),), model=ModelConfig(path=MODEL, height=height),
        outputs=OutputsConfig(video=str(out / "pipeline.mp4"), json=out / "pipeline.jsonl"),
        performance=PerformanceConfig(max_frames=frames))
    summary = Pipeline(config).run()
    done = max(1, summary.frames_out)
    cpu = {s["stage"]: 1000 * s.get("cpu_s", 0.0) / done for s in summary.stages}
    return {"steady": summary.steady_fps or 0.0, "overall": summary.fps,
            "frames": summary.frames_out, "cpu_ms": cpu}


def lwop_loop(video: Path, frames: int, height: int, out: Path) -> float:
    """A Lightweight-OpenPose-demo-style loop: resize + pad, the model, maps upsampled 4x
    (cubic), decoding, drawing, cv2.VideoWriter; frames per second."""
    spec = resolve_spec(MODEL)
    head, decoder, annotator = make_head(spec), PafDecoder(COCO18), SkeletonAnnotator()
    stride, upsample = spec.stride, 4
    mean = np.asarray(spec.mean, np.float32)
    scale_v = np.asarray(spec.scale, np.float32)
    capture = cv2.VideoCapture(str(video))
    writer: cv2.VideoWriter | None = None
    done = 0
    with create_backend("onnxruntime", spec=spec, model_path=MODEL) as backend:
        start = time.perf_counter()
        for image in _capture(capture, frames):
            h, w = image.shape[:2]
            scale = height / h
            scaled = cv2.resize(image, (0, 0), fx=scale, fy=scale,
                                interpolation=cv2.INTER_LINEAR)
            norm = (scaled.astype(np.float32) - mean) * scale_v
            pad_h, pad_w = -norm.shape[0] % stride, -norm.shape[1] % stride
            padded = cv2.copyMakeBorder(norm, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT,
                                        value=(0.0, 0.0, 0.0))
            chw = padded if spec.input_layout == "NHWC" else padded.transpose(2, 0, 1)
            batch = np.ascontiguousarray(chw[None])
            [maps] = head.payloads(backend.infer(batch), 1)
            assert isinstance(maps, MapsPayload)
            heat = _upsampled(maps.heatmaps, upsample)
            pafs = _upsampled(maps.pafs, upsample)
            poses = decoder(heat, pafs)
            factor = stride / upsample / scale
            annotator.annotate(image, poses.transformed(scale=(factor, factor),
                                                        offset=(0.0, 0.0)).clipped(
                width=w, height=h))
            writer = writer or cv2.VideoWriter(str(out / "lwop.mp4"),
                                               cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
            writer.write(image)
            done += 1
        elapsed = time.perf_counter() - start
    capture.release()
    if writer is not None:
        writer.release()
    return done / elapsed if elapsed > 0 else 0.0


def _capture(capture: cv2.VideoCapture, frames: int) -> Iterator[np.ndarray]:
    for _ in range(frames):
        ok, image = capture.read()
        if not ok:
            return
        yield image


def _upsampled(maps: np.ndarray, factor: int) -> np.ndarray:
    """(C, h, w) maps resized ``factor`` times with cubic interpolation, as (C, H, W)."""
    hwc = np.ascontiguousarray(maps.transpose(1, 2, 0))
    big = cv2.resize(hwc, (0, 0), fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    if big.ndim == 2:
        big = big[..., None]
    return np.ascontiguousarray(big.transpose(2, 0, 1))


def report(video: Path, frames: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        clock = stage_costs(video, frames, height, out)
        per_frame = clock.ms_per_frame()
        total = sum(per_frame.values())
        bound = cores() / (total / 1000) if total > 0 else 0.0
        print(f"\n{video.name}, {clock.frames} frames, height {height}, {cores()} cores")
        print("  each stage alone, one thread (CPU ms per frame):")
        for stage, ms in per_frame.items():
            print(f"    {stage:<14}{ms:8.2f}")
        print(f"    {'sum':<14}{total:8.2f}  -> machine bound {bound:.2f} fps "
              f"({cores()} cores / sum)")
        result = pipeline(video, clock.frames, height, out)
        print(f"  pipeline (video + JSON lines, defaults): {result['steady']:.2f} fps steady, "
              f"{result['overall']:.2f} fps overall, {result['frames']} frames")
        for stage, ms in sorted(result["cpu_ms"].items()):
            print(f"    {stage:<14}{ms:8.2f} ms CPU per frame (start-up included)")
        serial = plain_loop(clock.frames, height, None, False, out / "serial.mp4", video=video)
        lwop = lwop_loop(video, clock.frames, height, out)
        print(f"  project's serial loop {serial:.2f} fps, Lightweight-OpenPose-style loop "
              f"{lwop:.2f} fps")
        if bound > 0:
            print(f"  pipeline / machine bound: {result['steady'] / bound:.2f} steady, "
                  f"{result['overall'] / bound:.2f} overall")
        for name, fps in (("serial loop", serial), ("LWOP-style loop", lwop)):
            if fps > 0:
                print(f"  pipeline / {name}: {result['steady'] / fps:.2f} steady, "
                      f"{result['overall'] / fps:.2f} overall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per video")
    parser.add_argument("--quick", action="store_true", help="12 frames: a smoke run")
    parser.add_argument("--height", type=int, default=368, help="network input height")
    parser.add_argument("--video", type=Path, action="append", help="videos (repeatable)")
    args = parser.parse_args()
    frames = 12 if args.quick else args.frames
    missing = [p for p in (*(args.video or VIDEOS), MODEL) if not p.is_file()]
    if missing:
        raise SystemExit(f"machine_bound: missing {', '.join(map(str, missing))}")
    for video in args.video or VIDEOS:
        report(video, frames, args.height)


if __name__ == "__main__":
    main()
