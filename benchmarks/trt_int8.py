"""TensorRT fp16 against INT8 engines: model ms and coco4 AP, for each model (needs a GPU).

For every ONNX model in ``--models`` (default ../shared/models) and each precision
(``fp16``; ``int8``: INT8 kernels allowed, fp16 kept as the fallback, calibrated by
TensorRT's entropy calibrator on ``--frames`` frames of ``--calibrate``, prepared as
``streampose quantize`` prepares them):
  build s    opening the backend: building the engine, or loading it from the engine
             cache (the INT8 calibration cache is reused too: delete both, or give
             another ``--cache-dir``, to time a cold build);
  model ms   ``backend.infer()`` on one letterboxed vtest frame at the model's input size
             for vtest (host->device and back included), median of ``--repeats`` runs;
  AP         COCO keypoint AP on ``--eval`` through ``streampose eval``'s pipeline with
             ``--backend tensorrt`` (its engines are built for the eval images' sizes).
Prints a Markdown table; ``--json OUT`` writes the rows.

    python benchmarks/trt_int8.py [--models ../shared/models] [--precisions fp16 int8]
        [--calibrate ../shared/media/vtest.mp4 ../shared/eval/coco4] [--frames 32]
        [--repeats 50] [--device cuda:0] [--json OUT.json]

Written without a GPU (the TensorRT code is unit-tested with a stand-in module): it has
never run. Exits with a message when tensorrt or a CUDA device is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
COCO4 = SHARED / "eval/coco4"
VTEST = SHARED / "media/vtest.mp4"


@dataclass
class Row:
    model: str
    precision: str
    input_hw: str
    build_s: float
    model_ms: float
    ap: float | None


def backend_options(precision: str, args: argparse.Namespace) -> dict[str, Any]:
    """The TensorRT backend's options for ``precision`` (fp16 always allowed)."""
    options: dict[str, Any] = {"fp16": True, "max_batch": 1}
    if args.cache_dir is not None:
        options["cache_dir"] = str(args.cache_dir)
    if precision == "int8":
        options.update(int8=True, calibrate=list(args.calibrate),
                       calibration_frames=args.frames)
    return options


def vtest_input(spec: Any, height: int | None) -> Any:
    """One vtest frame letterboxed for ``spec`` as a run would, batch of one."""
    from streampose.models.quantize import network_inputs
    from streampose.sources.sample import sample_frames

    return network_inputs(sample_frames([str(VTEST)], 1), spec, height=height)[0]


def model_ms(model: Path, precision: str, args: argparse.Namespace) -> tuple[str, float, float]:
    """(input HxW, build seconds, median ms per frame) of the engine for vtest's size."""
    from streampose.backends import create_backend
    from streampose.models.resolve import resolve_spec
    from streampose.sources.sample import sample_frames

    spec = resolve_spec(model)
    batch = vtest_input(spec, args.height)
    hw = (batch.shape[1], batch.shape[2]) if spec.input_layout == "NHWC" else batch.shape[2:]
    options = backend_options(precision, args)
    if options.get("int8"):
        options["calibration_loader"] = sample_frames  # a run's planning adds it itself
    backend = create_backend("tensorrt", spec=spec, model_path=model, device=args.device,
                             input_hw=tuple(hw), **options)
    started = time.perf_counter()
    with backend:
        built = time.perf_counter() - started
        for _ in range(10):
            backend.infer(batch)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            backend.infer(batch)
            times.append((time.perf_counter() - t0) * 1000)
    return f"{hw[0]}x{hw[1]}", built, statistics.median(times)


def coco_ap(model: Path, precision: str, args: argparse.Namespace) -> float | None:
    from streampose.config.build import build_config
    from streampose.evaluate import evaluate

    images, annotations = args.eval
    model_values = {"path": model, "backend": "tensorrt", "device": args.device,
                    "height": args.height,
                    "backend_options": backend_options(precision, args)}
    config = build_config({}, {"model": model_values, "sources": [images]})
    ap: float | None = evaluate(config, Path(annotations)).AP
    return ap


def check_gpu(device: str) -> None:
    try:
        import tensorrt  # noqa: F401
        import torch
    except ImportError as exc:
        sys.exit(f"trt_int8: needs tensorrt and a CUDA build of torch ({exc})")
    if not torch.cuda.is_available():
        sys.exit(f"trt_int8: no CUDA device ({device}); this benchmark needs an NVIDIA GPU")


def print_table(rows: list[Row]) -> None:
    print("| model | precision | input | build s | model ms | coco4 AP |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        ap = "-" if r.ap is None else f"{r.ap:.3f}"
        print(f"| {r.model} | {r.precision} | {r.input_hw} | {r.build_s:.1f} | "
              f"{r.model_ms:.2f} | {ap} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=SHARED / "models",
                        help="folder of ONNX models (or one .onnx file)")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "int8"],
                        choices=("fp16", "int8"))
    parser.add_argument("--calibrate", nargs="+", default=[str(VTEST), str(COCO4)],
                        metavar="SOURCE")
    parser.add_argument("--frames", type=int, default=32, help="calibration frames (32)")
    parser.add_argument("--eval", nargs=2, metavar=("IMAGES", "ANN.json"),
                        default=[str(COCO4), str(COCO4 / "test_coco.json")])
    parser.add_argument("--height", type=int, default=None,
                        help="network input height (default: each model's spec)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--cache-dir", type=Path, help="engine cache (default: the usual)")
    parser.add_argument("--no-ap", action="store_true", help="model ms only")
    parser.add_argument("--json", type=Path, metavar="OUT.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    check_gpu(args.device)
    models = [args.models] if args.models.suffix == ".onnx" else sorted(
        args.models.glob("*.onnx"))
    rows = []
    for model in models:
        for precision in args.precisions:
            hw, built, ms = model_ms(model, precision, args)
            ap = None if args.no_ap else coco_ap(model, precision, args)
            rows.append(Row(model=model.stem, precision=precision, input_hw=hw,
                            build_s=built, model_ms=ms, ap=ap))
            print(f"{model.stem} {precision}: {hw}, build {built:.1f} s, {ms:.2f} ms, "
                  f"AP {ap}", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
