"""GPU throughput on 1080p video: the model alone vs the full pipeline, per batch size.

For each batch size (default 1, 8, 32), in fp16 where the backend has it:
  model-only  ``backend.infer()`` on letterboxed frames of the video, prepared beforehand:
              host->device and device->host copies included; decoding, letterboxing and
              PAF grouping excluded. The bound no pipeline can beat with this backend.
  pipeline    ``Pipeline(PipelineConfig(..., batching=BatchingConfig(batch=B))).run()``: decode,
              preprocess, infer, postprocess, render with JSON lines output (no video
              encoding); ``summary.steady_fps`` (first to last frame out) and every stage's
              busy fraction (``summary.stages``).
              Run twice by default: with host ops (letterbox on the CPU, float32 maps
              back) and with device ops (``--device-ops on``: uint8 frames up, letterbox
              and peak NMS on the GPU, fp16 PAFs and peaks back); ``--device-ops`` picks one.
  GPU busy    mean of ``nvidia-smi --query-gpu=utilization.gpu -lms 200`` samples taken
              in a thread while the phase runs: the share of time a kernel was running.
              For the pipeline it includes start-up (process spawn, model load), so it
              is a lower bound. "n/a" without nvidia-smi.
Prints the device, a table, per-stage busy % and the ratio pipeline / model-only.

Backend (``--backend auto``): TensorRT on the ONNX model when ``tensorrt`` is importable,
else ONNX Runtime on CUDA (onnxruntime-gpu), else torch with the built-in Lightweight
OpenPose network (``--model lightweight-openpose``; weights from the registry or
``--weights CKPT``; ``--weights random`` for a plumbing-only run).

Batching: the shared model (openpose-mnv2s-coco18.onnx) declares ``max_batch = 1`` in its
spec (its BatchNorm uses batch statistics), so every backend runs it one image at a time
and the batch size only changes how frames are handed over (the "runs of" column). For
real batching use Lightweight OpenPose: with torch directly, or its ONNX export with
TensorRT / ONNX Runtime:
    streampose export --model lightweight-openpose --onnx lwo.onnx
    python benchmarks/gpu.py --model lwo.onnx

One 1080p stream may not decode fast enough to fill batch 32 on a fast GPU: ``--streams N``
runs N copies of the video side by side.

    python benchmarks/gpu.py [--video PATH] [--model PATH.onnx | lightweight-openpose]
        [--backend auto|tensorrt|onnxruntime|torch] [--batches 1 8 32] [--frames 300]
        [--height 368] [--streams 1] [--fp32] [--device cuda:0] [--device-ops both|on|off]

Exits with a message when no CUDA device is present. Not run by this project's CI (no GPU),
except as ``--cpu-smoke --device cpu``: the same code on the CPU with tiny inputs, so a
GPU session is not lost to a broken script. Smoke figures are not GPU figures.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from frames import read_frames  # benchmarks/frames.py (the script's folder is on sys.path)

from streampose import Pipeline, PipelineConfig
from streampose.backends import create_backend
from streampose.backends.auto import cuda_available, importable, ort_has_cuda
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.models import ARCHITECTURES, architecture_spec
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import letterbox_into, plan_letterbox

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VIDEO = SHARED / "media/vtest_1080p_300f.mp4"
ONNX_MODEL = SHARED / "models/openpose-mnv2s-coco18.onnx"
BUILTIN = "lightweight-openpose"
POOL = 64  # distinct prepared frames for model-only runs (cycled)
SAMPLE_MS = 200


# -- what runs where ------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    backend: str
    model: str  # an ONNX file, or a built-in architecture name
    device: str

    @property
    def builtin(self) -> bool:
        return self.model in ARCHITECTURES


def device_index(device: str) -> int:
    _, _, index = device.partition(":")
    return int(index or 0)


def smi_id(index: int) -> str:
    """The nvidia-smi id of CUDA device ``index`` (CUDA_VISIBLE_DEVICES renumbers them)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
               if v.strip()]
    return visible[index] if index < len(visible) else str(index)


def gpu_name(device: str) -> str | None:
    """The CUDA device's name, or None when there is no CUDA device."""
    index = device_index(device)
    if cuda_available():
        import torch

        return torch.cuda.get_device_name(index)
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "-i", smi_id(index), "--query-gpu=name", "--format=csv,noheader"]
    done = subprocess.run(query, capture_output=True, text=True, check=False)
    name = done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout else ""
    return name or None


def choose(args: argparse.Namespace) -> Choice:
    if args.backend != "auto":
        default = BUILTIN if args.backend == "torch" else str(ONNX_MODEL)
        return Choice(args.backend, args.model or default, args.device)
    onnx = args.model or str(ONNX_MODEL)
    if onnx not in ARCHITECTURES:
        if importable("tensorrt") and cuda_available():
            return Choice("tensorrt", onnx, args.device)
        if ort_has_cuda():
            return Choice("onnxruntime", onnx, args.device)
    if cuda_available():
        if onnx not in ARCHITECTURES:
            print(f"no GPU backend for ONNX here (tensorrt, onnxruntime-gpu); using torch with "
                  f"{BUILTIN} instead of {Path(onnx).name}")
        return Choice("torch", BUILTIN, args.device)
    sys.exit("gpu.py: no GPU backend: install tensorrt (pip install 'streampose[tensorrt]' "
             "and a CUDA build of torch), onnxruntime-gpu, or a CUDA build of torch")


def load_model(choice: Choice, weights: str | None) -> tuple[ModelSpec, Path | None]:
    if choice.builtin:
        from streampose.models.resolve import resolve_network_weights

        spec = ModelSpec.from_dict(architecture_spec(choice.model), source=choice.model)
        return spec, resolve_network_weights(choice.model, weights)
    return resolve_spec(Path(choice.model)), Path(choice.model)


def backend_options(backend: str, *, fp16: bool, batch: int,
                    input_hw: tuple[int, int]) -> dict[str, object]:
    """fp16 where the backend has it; TensorRT's engine sized for ``batch`` and the input."""
    if backend == "tensorrt":
        return {"fp16": fp16, "max_batch": batch, "input_hw": list(input_hw)}
    if backend == "torch":
        return {"fp16": fp16}
    return {}


def precision(backend: str, fp16: bool) -> str:
    return "fp16" if fp16 and backend in ("tensorrt", "torch") else "fp32"


def runs_of(spec: ModelSpec, batch: int) -> int:
    """Images per model run: the batch, capped by the spec's max_batch."""
    return min(batch, spec.max_batch) if spec.max_batch else batch


# -- GPU busy --------------------------------------------------------------------------------


class GpuSampler:
    """Mean ``utilization.gpu`` from ``nvidia-smi -lms`` read in a thread while in ``with``."""

    def __init__(self, gpu: str, period_ms: int = SAMPLE_MS) -> None:
        self.command = ["nvidia-smi", "-i", gpu, "--query-gpu=utilization.gpu",
                        "--format=csv,noheader,nounits", "-lms", str(period_ms)]
        self.samples: list[float] = []
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi") is None:
            return self
        self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with contextlib.suppress(ValueError):
                self.samples.append(float(line.strip()))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def busy(self) -> float | None:
        """Fraction 0..1 of time a kernel ran; None without samples."""
        return statistics.fmean(self.samples) / 100 if self.samples else None


# -- model only -------------------------------------------------------------------------------


def prepared_frames(video: Path, spec: ModelSpec, height: int,
                    count: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``count`` letterboxed network inputs from the start of ``video`` (repeated if short)."""
    frames = read_frames(video, count)
    if not frames:
        sys.exit(f"gpu.py: cannot read frames from {video}")
    lb = plan_letterbox(src_w=frames[0].shape[1], src_h=frames[0].shape[0], height=height,
                        stride=spec.stride)
    pool = np.empty(spec.input_shape(count, lb.in_h, lb.in_w), np.float32)
    for i in range(count):
        letterbox_into(frames[i % len(frames)], lb, pool[i], spec=spec)
    return pool, (lb.in_h, lb.in_w)


def batches(pool: np.ndarray, batch: int) -> list[np.ndarray]:
    """Contiguous slices of ``batch`` images (views, no copies), cycled by the caller."""
    return [pool[start : start + batch] for start in range(0, len(pool) - batch + 1, batch)]


@dataclass
class Measured:
    fps: float = 0.0
    busy: float | None = None
    stages: str = ""
    mean_batch: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def model_only(choice: Choice, spec: ModelSpec, model_path: Path | None, pool: np.ndarray,
               batch: int, options: dict[str, object], *, frames: int,
               min_seconds: float) -> Measured:
    """Frames/s of ``backend.infer`` on batches of ``batch`` (after 3 warm-up runs)."""
    work = batches(pool, batch)
    with create_backend(choice.backend, spec=spec, model_path=model_path,
                        device=choice.device, **options) as backend:
        for item in work[:3]:
            backend.infer(item)
        done, i = 0, 0
        with GpuSampler(smi_id(device_index(choice.device))) as sampler:
            start = time.perf_counter()
            while done < frames or time.perf_counter() - start < min_seconds:
                backend.infer(work[i % len(work)])
                done, i = done + batch, i + 1
            elapsed = time.perf_counter() - start
    _release_cached_gpu_memory()
    return Measured(fps=done / elapsed, busy=sampler.busy)


def _release_cached_gpu_memory() -> None:
    """Give the pipeline's infer process the memory this process's torch cached."""
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# -- pipeline ---------------------------------------------------------------------------------


def pipeline(choice: Choice, args: argparse.Namespace, batch: int,
             options: dict[str, object], out: Path, device_ops: str) -> Measured:
    config = PipelineConfig(
        sources=(str(args.video),) * args.streams,
        model=ModelConfig(path=Path(choice.model), backend=choice.backend, device=choice.device,
                          height=args.height, backend_options=options, device_ops=device_ops,
                          weights=args.weights if choice.builtin else None),
        batching=BatchingConfig(batch=batch, max_wait_ms=args.max_wait_ms),
        outputs=OutputsConfig(json=out / f"poses_b{batch}_{device_ops}.jsonl"),
        performance=PerformanceConfig(max_frames=args.frames, decode_threads=args.decode_threads,
                                      postprocess_workers=args.postprocess_workers,
                                      infer_workers="1"))  # batching within one session
    with GpuSampler(smi_id(device_index(choice.device))) as sampler:
        summary = Pipeline(config).run()
    stages = ", ".join(f"{s['stage']} {100 * s['busy']:.0f}%" for s in summary.stages)
    infer = next((s for s in summary.stages if s["stage"] == "infer"), {})
    mean_batch = infer["items"] / infer["batches"] if infer.get("batches") else None
    return Measured(fps=summary.steady_fps or summary.fps, busy=sampler.busy, stages=stages,
                    mean_batch=mean_batch,
                    extra={"device_ops": device_ops,
                           "bytes": infer.get("map_bytes_per_item")})


# -- report ---------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


Row = tuple[int, int, str, Measured, list[Measured]]


def print_table(rows: list[Row]) -> None:
    header = (f"{'batch':>5} {'runs of':>7} {'prec':>4} {'model fps':>10} {'GPU busy':>8} "
              f"{'ops':>6} {'pipeline fps':>12} {'GPU busy':>8} {'mean batch':>10} "
              f"{'KB back/frame':>13} {'pipe/model':>10}")
    print(header)
    print("-" * len(header))
    for batch, runs, prec, alone, pipes in rows:
        for piped in pipes:
            mean = f"{piped.mean_batch:.1f}" if piped.mean_batch else "n/a"
            ratio = piped.fps / alone.fps if alone.fps else math.nan
            kb = piped.extra.get("bytes")
            kb_text = "n/a" if kb is None else f"{kb / 1024:.0f}"
            ops = "device" if piped.extra.get("device_ops") == "on" else "host"
            print(f"{batch:>5} {runs:>7} {prec:>4} {alone.fps:>10.1f} {_pct(alone.busy):>8} "
                  f"{ops:>6} {piped.fps:>12.1f} {_pct(piped.busy):>8} {mean:>10} "
                  f"{kb_text:>13} {ratio:>10.2f}")
    print("\nstage busy (pipeline):")
    for batch, _, _, _, pipes in rows:
        for piped in pipes:
            print(f"  batch {batch:>2} {piped.extra.get('device_ops')}: {piped.stages}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VIDEO, help="input video (1080p)")
    parser.add_argument("--model", help=f"ONNX file, or {BUILTIN} (default: by backend)")
    parser.add_argument("--weights", help=f"{BUILTIN} checkpoint, or 'random'")
    parser.add_argument("--backend", default="auto",
                        choices=["auto", "tensorrt", "onnxruntime", "torch"])
    parser.add_argument("--device", default="cuda", help="cuda or cuda:N")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--frames", type=int, default=300, help="frames per source and run")
    parser.add_argument("--height", type=int, default=368, help="network input height")
    parser.add_argument("--streams", type=int, default=1, help="copies of the video at once")
    parser.add_argument("--max-wait-ms", type=float, default=50.0,
                        help="pipeline: longest wait to fill a batch (default 50)")
    parser.add_argument("--decode-threads", type=int, default=0, help="0: FFmpeg's choice")
    parser.add_argument("--postprocess-workers", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="shortest model-only measurement (enough GPU samples)")
    parser.add_argument("--fp32", action="store_true", help="no fp16")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run on the CPU (with --device cpu) to check the script only")
    parser.add_argument("--device-ops", default="both", choices=["both", "on", "off"],
                        help="pipeline runs with device ops, without, or both (default)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    name = gpu_name(args.device)
    if name is None and args.cpu_smoke:
        name = "CPU smoke run (NOT GPU figures)"
    if name is None:
        sys.exit("gpu.py: no CUDA device found (torch.cuda.is_available() is False or torch "
                 "is missing, and nvidia-smi lists no GPU); this benchmark needs an NVIDIA GPU")
    if not args.video.is_file():
        sys.exit(f"gpu.py: no video {args.video} (pass --video PATH)")
    choice = choose(args)
    spec, model_path = load_model(choice, args.weights)
    fp16 = not args.fp32
    pool, input_hw = prepared_frames(args.video, spec, args.height, max(POOL, *args.batches))
    print(f"device: {name} ({choice.device})   backend: {choice.backend}   model: "
          f"{Path(choice.model).name}   input {input_hw[0]}x{input_hw[1]}   "
          f"video: {args.video.name} x{args.streams}")
    if spec.max_batch:
        print(f"note: spec {spec.name} runs at most {spec.max_batch} image(s) per model run")
    rows = []
    with tempfile.TemporaryDirectory(prefix="streampose-gpu-") as tmp:
        for batch in args.batches:
            options = backend_options(choice.backend, fp16=fp16, batch=batch,
                                      input_hw=input_hw)
            alone = model_only(choice, spec, model_path, pool, batch, options,
                               frames=args.frames, min_seconds=args.min_seconds)
            modes = ["off", "on"] if args.device_ops == "both" else [args.device_ops]
            pipes = [pipeline(choice, args, batch, options, Path(tmp), mode) for mode in modes]
            rows.append((batch, runs_of(spec, batch), precision(choice.backend, fp16),
                         alone, pipes))
            piped = ", ".join(f"{p.fps:.1f} fps (device ops {p.extra['device_ops']})"
                              for p in pipes)
            print(f"batch {batch}: model-only {alone.fps:.1f} fps, pipeline {piped}", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
