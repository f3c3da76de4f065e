"""Pipeline vs a plain single-process loop vs the model alone, measured in one run.

On ../shared/media/vtest_1080p_300f.mp4 with the shared model:
  (a) model alone on pre-letterboxed frames, for each ONNX Runtime thread setting: the
      best is the bound no pipeline can beat on this machine;
  (b) a plain loop: OpenCV capture, letterbox, the same ONNX Runtime session settings,
      the same PafDecoder, drawing, OpenCV writer - one process, one frame at a time;
  (c) the streampose pipeline writing an annotated MP4 and JSON lines.
Prints frames/s of each and the ratios. Everything runs on the same video and model.

    python benchmarks/pipeline_vs_serial.py [--frames 300] [--threads 1 2] [--preset ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from streampose import Pipeline, PipelineConfig
from streampose.backends import create_backend
from streampose.config import ModelConfig, OutputsConfig, PerformanceConfig
from streampose.heads import make_head
from streampose.heads.paf import MapsPayload
from streampose.models.resolve import resolve_spec
from streampose.pose import COCO18, PafDecoder, Poses
from streampose.pose.letterbox import letterbox_into, plan_letterbox
from streampose.render import SkeletonAnnotator
from streampose.stages.postprocess import to_frame

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media/vtest_1080p_300f.mp4"
MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"


def letterboxed_inputs(frames: int, height: int) -> tuple[list[np.ndarray], object]:
    spec = resolve_spec(MODEL)
    capture = cv2.VideoCapture(str(VIDEO))
    inputs, lb = [], None
    for _ in range(frames):
        ok, frame = capture.read()
        if not ok:
            break
        lb = lb or plan_letterbox(src_w=frame.shape[1], src_h=frame.shape[0], height=height,
                                  stride=spec.stride)
        out = np.empty(spec.input_shape(1, lb.in_h, lb.in_w), np.float32)
        letterbox_into(frame, lb, out[0], spec=spec)
        inputs.append(out)
    return inputs, lb


def model_alone(inputs: list[np.ndarray], threads: int, spin: bool) -> float:
    spec = resolve_spec(MODEL)
    with create_backend("onnxruntime", spec=spec, model_path=MODEL, threads=threads,
                        spin=spin) as backend:
        for batch in inputs[:5]:
            backend.infer(batch)
        start = time.perf_counter()
        for batch in inputs:
            backend.infer(batch)
        return len(inputs) / (time.perf_counter() - start)


def plain_loop(frames: int, height: int, threads: int | None, spin: bool, out_path: Path,
               video: Path = VIDEO) -> float:
    spec = resolve_spec(MODEL)
    head = make_head(spec)  # slices the model's outputs into heatmaps and PAFs
    decoder, annotator = PafDecoder(COCO18), SkeletonAnnotator()
    backend = create_backend("onnxruntime", spec=spec, model_path=MODEL, threads=threads,
                             spin=spin)
    backend.open()
    capture = cv2.VideoCapture(str(video))
    writer, lb, done = None, None, 0
    start = time.perf_counter()
    while done < frames:
        ok, frame = capture.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        lb = lb or plan_letterbox(src_w=w, src_h=h, height=height, stride=spec.stride)
        batch = np.empty(spec.input_shape(1, lb.in_h, lb.in_w), np.float32)
        letterbox_into(frame, lb, batch[0], spec=spec)
        [maps] = head.payloads(backend.infer(batch), 1)
        assert isinstance(maps, MapsPayload)
        poses = decoder(maps.heatmaps, maps.pafs)
        annotator.annotate(frame, _frame_poses(poses, lb, w, h, spec.stride))
        writer = writer or cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                                           (w, h))
        writer.write(frame)
        done += 1
    elapsed = time.perf_counter() - start
    writer.release()
    backend.close()
    return done / elapsed


def _frame_poses(poses: Poses, lb, width: int, height: int, stride: int) -> Poses:
    """Map-cell poses -> frame pixels, as the pipeline's head and postprocess do it (map
    cell j is network-input pixel (j + 0.5) * stride)."""
    from streampose.transport.messages import FrameHeader

    header = FrameHeader(width=width, height=height,
                         transform=lb.transform)
    pixels = poses.transformed(scale=(stride, stride), offset=(stride / 2, stride / 2))
    return to_frame(pixels, header)


def pipeline(frames: int, height: int, threads: int | None, preset: str,
             out: Path) -> tuple[float, float, str]:
    config = PipelineConfig(
        sources=(str(VIDEO),), model=ModelConfig(path=MODEL, threads=threads, height=height),
        outputs=OutputsConfig(video=str(out / "p.mp4"), json=out / "p.jsonl"),
        performance=PerformanceConfig(max_frames=frames, encoder_preset=preset))
    summary = Pipeline(config).run()
    busy = ", ".join(f"{s['stage']} {100 * s['busy']:.0f}%" for s in summary.stages)
    return summary.steady_fps or 0.0, summary.fps, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--height", type=int, default=368, help="network input height")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--preset", default="ultrafast", help="x264 preset of the pipeline")
    parser.add_argument("--pipeline-threads", type=int, default=None,
                        help="ONNX Runtime threads in the pipeline (default: the spec's)")
    args = parser.parse_args()
    inputs, _ = letterboxed_inputs(args.frames, args.height)
    alone = {(t, spin): model_alone(inputs, t, spin) for t in args.threads
             for spin in (True, False)}
    for (t, spin), fps in alone.items():
        print(f"(a) model alone, {t} ORT thread(s), spin {spin!s:5}: {fps:6.2f} fps")
    best = max(alone, key=alone.get)
    bound = alone[best]
    with tempfile.TemporaryDirectory() as tmp:
        loop = plain_loop(args.frames, args.height, *best, Path(tmp) / "loop.mp4")
        print(f"(b) plain loop, {best[0]} thread(s), spin {best[1]}: {loop:6.2f} fps")
        steady, overall, busy = pipeline(args.frames, args.height, args.pipeline_threads,
                                         args.preset, Path(tmp))
    print(f"(c) pipeline, x264 {args.preset}: {steady:6.2f} fps steady "
          f"({overall:.2f} fps with start-up)  [{busy}]")
    print(f"pipeline / model-alone bound = {steady / bound:.2f}   "
          f"pipeline / plain loop = {steady / loop:.2f}")


if __name__ == "__main__":
    main()
