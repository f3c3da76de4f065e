"""Command line: ``streampose run SOURCE... [options]``, ``streampose eval IMAGES ANN.json
[options]`` (COCO keypoint metrics), ``streampose export``, ``streampose quantize``
(static INT8, :mod:`streampose.quantize`), ``streampose engine`` (a TensorRT engine built
ahead of a run, :mod:`streampose.backends.tensorrt.prebuild`), ``streampose models`` (the
models found by name, :mod:`streampose.models.catalog`) and ``streampose fleet ...``
(cameras on a Ray cluster, :mod:`streampose.fleet.cli`).

Exit codes: 0 success; 1 unexpected internal error; 2 bad usage or configuration;
3 source cannot be opened or decoded; 4 output cannot be written; 5 model or model spec
problem; 6 a pipeline stage failed; 130 interrupted (SIGINT); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from streampose import __version__
from streampose.config.arguments import (
    add_config_arguments,
    add_progress_arguments,
    add_run_arguments,
    given_values,
)
from streampose.config.build import build_config, merge_values
from streampose.config.cameras_file import Camera, load_cameras
from streampose.config.sections import PipelineConfig
from streampose.config.toml import load_pipeline_file
from streampose.errors import ConfigError, StreamposeError
from streampose.fleet.cli import add_fleet_arguments, fleet_command
from streampose.outputs.writable import check_writable
from streampose.uri import is_live_uri, redact

if TYPE_CHECKING:  # the pipeline (PyAV, OpenCV, ...) is imported when a run starts: stage
    # processes spawned from the `streampose` script re-import this module
    from streampose.observe.progress_log import ProgressLog
    from streampose.pipeline import Progress, Summary

log = logging.getLogger("streampose")

# The config tables ``eval`` takes (flags and --config): the model and how it runs.
EVAL_TABLES = ("model", "batching", "performance", "decoder")
QUANT_METHODS = ("minmax", "percentile", "entropy")  # streampose.models.quantize.METHODS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streampose", description=(
        "Real-time multi-person pose estimation on video: decode, preprocess, inference, "
        "PAF grouping and rendering run as separate processes over shared memory."))
    parser.add_argument("--version", action="version", version=f"streampose {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on videos, images or live cameras")
    add_run_arguments(run)
    evaluate = sub.add_parser("eval", help="COCO keypoint AP of a model on annotated images")
    _add_eval_arguments(evaluate)
    export = sub.add_parser("export", help="export a built-in torch network to ONNX")
    _add_export_arguments(export)
    quantize = sub.add_parser("quantize", help="an ONNX model to static INT8, calibrated on "
                              "your frames, layers that hurt AP kept in float")
    _add_quantize_arguments(quantize)
    engine = sub.add_parser("engine", help="build a TensorRT engine into the engine cache "
                            "before a run: fp16, or int8 calibrated on your frames")
    _add_engine_arguments(engine)
    models = sub.add_parser("models", help="list the models --model NAME finds, and "
                            "where it looks")
    _add_models_arguments(models)
    fleet = sub.add_parser("fleet", help="cameras on a Ray cluster: up, status, add, "
                           "remove, down (pip install \"streampose[cluster]\")")
    add_fleet_arguments(fleet)
    return parser


def _add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", type=Path, metavar="DIR",
                   help="folder searched first (then $STREAMPOSE_MODELS, [model].dir of "
                   "--config, the user cache)")
    p.add_argument("--config", type=Path, metavar="PIPELINE.toml",
                   help="pipeline file whose [model].dir is searched")


def models_command(args: argparse.Namespace) -> int:
    """``streampose models``: the models found by name, and the folders searched."""
    from streampose.models.catalog import listing
    from streampose.models.folders import model_folders

    values = load_pipeline_file(args.config) if args.config is not None else {}
    folders = model_folders(option=args.models_dir, configured=values.get("model", {}).get("dir"))
    print("\n".join(listing(folders)))
    return 0


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="built-in network, e.g. lightweight-openpose")
    p.add_argument("--weights", metavar="CKPT",
                   help="checkpoint ('random' for untrained weights); default: the registry's")
    p.add_argument("--onnx", type=Path, required=True, metavar="OUT.onnx")
    p.add_argument("--height", type=int, default=368, help="export input height (368)")
    p.add_argument("--width", type=int, default=656, help="export input width (656)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def export_command(args: argparse.Namespace) -> int:
    from streampose.models.resolve import resolve_network_weights

    try:
        import onnx  # noqa: F401 - the exporter needs it
        import torch  # noqa: F401

        from streampose.models.export import export_onnx
    except ModuleNotFoundError as exc:
        raise ConfigError(f"export needs {exc.name!r}: pip install torch==2.13.0 -e '.[torch]'"
                          ) from exc

    weights = resolve_network_weights(args.model, args.weights)
    diff = export_onnx(args.model, weights=weights, out=args.onnx, height=args.height,
                       width=args.width, opset=args.opset)
    print(f"streampose: wrote {args.onnx} and {args.onnx.with_suffix('.toml')}; "
          f"ONNX Runtime matches torch within {diff:.1e}", file=sys.stderr)
    return 0


def _add_quantize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, metavar="MODEL.onnx", help="the float ONNX model")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.onnx", help=(
        "the INT8 model; OUT.toml (its spec) and OUT.json (the report) are written beside"))
    p.add_argument("--calibrate", nargs="+", required=True, metavar="SOURCE",
                   help="videos, image folders or images to calibrate on")
    p.add_argument("--eval", nargs=2, metavar=("IMAGES", "ANN.json"), help=(
        "COCO keypoint images + annotations: AP before and after, and layers left in "
        "float until the drop is within --max-drop"))
    p.add_argument("--max-drop", type=float, default=0.02, metavar="AP",
                   help="largest AP drop accepted (default 0.02)")
    p.add_argument("--frames", type=int, default=32, metavar="N",
                   help="calibration frames, shared between the sources (default 32)")
    p.add_argument("--method", nargs="+", default=list(QUANT_METHODS[:2]),
                   choices=QUANT_METHODS, help=(
                       "calibration methods to try; the one closest to the float outputs "
                       "wins (default: minmax percentile)"))
    p.add_argument("--equalize", choices=("auto", "on", "off"), default="auto", help=(
        "rescale conv pairs so each tensor's channels span similar ranges before "
        "quantizing (auto: try both, keep the closer to float)"))
    p.add_argument("--per-tensor", action="store_true",
                   help="one scale per weight tensor (default: per output channel)")
    p.add_argument("--format", choices=("qdq", "qoperator"), default="qdq", help=(
        "QDQ pairs ONNX Runtime fuses into INT8 kernels at load, or QLinear* operators "
        "in the file (default qdq: as fast here, and the float/INT8 boundary is plain)"))
    p.add_argument("--reduce-range", action="store_true",
                   help="7-bit weights (x86 CPUs without VNNI may saturate otherwise)")
    p.add_argument("--height", type=int, metavar="H",
                   help="network input height (default: the model spec's)")
    p.add_argument("--model-spec", type=Path, metavar="SPEC.toml",
                   help="model spec TOML (default: sidecar, built-in or ONNX metadata)")
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default WARNING)")


def quantize_command(args: argparse.Namespace) -> int:
    from streampose.quantize import QuantRequest, quantize

    if args.frames < 1 or not 0 <= args.max_drop <= 1:
        raise ConfigError("--frames must be >= 1 and --max-drop within 0..1")
    images, annotations = args.eval if args.eval else (None, None)
    report = quantize(QuantRequest(
        model=args.model, out=args.out, calibrate=tuple(args.calibrate), images=images,
        annotations=None if annotations is None else Path(annotations),
        max_drop=args.max_drop, frames=args.frames, methods=tuple(args.method),
        per_channel=not args.per_tensor, reduce_range=args.reduce_range, format=args.format,
        height=args.height, spec=args.model_spec,
        equalize={"auto": None, "on": True, "off": False}[args.equalize]))
    print("\n".join(report.lines()))
    return 0


def _add_engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, metavar="MODEL.onnx", help="the ONNX model")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16", help=(
        "kernels allowed: fp32, fp16 (default), or int8 (fp16 kept where int8 cannot run)"))
    p.add_argument("--calibrate", nargs="+", default=[], metavar="SOURCE", help=(
        "int8: videos, image folders or images to calibrate on (prepared as a run "
        "prepares frames; the calibration cache is kept beside the engine)"))
    p.add_argument("--frames", type=int, default=32, metavar="N",
                   help="int8: calibration frames, shared between the sources (default 32)")
    p.add_argument("--for", dest="source", metavar="SOURCE", help=(
        "the source the run reads: the engine is built for its input size (default: the "
        "first --calibrate source)"))
    p.add_argument("--size", metavar="HxW", help="the network input size instead of --for")
    p.add_argument("--height", type=int, metavar="H",
                   help="network input height, as the run's --height (default: the spec's)")
    p.add_argument("--max-batch", type=int, default=8, metavar="N",
                   help="the engine's largest batch (default 8)")
    p.add_argument("--cache-dir", type=Path, metavar="DIR",
                   help="engine cache (default: ~/.cache/streampose/engines)")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    p.add_argument("--model-spec", type=Path, metavar="SPEC.toml",
                   help="model spec TOML (default: sidecar, built-in or ONNX metadata)")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default INFO)")


def engine_command(args: argparse.Namespace) -> int:
    from streampose.backends.tensorrt.prebuild import EngineRequest, prebuild
    from streampose.sources.sample import sample_frames

    if args.precision == "int8" and not args.calibrate:
        raise ConfigError("--precision int8 needs --calibrate SOURCE...")
    size = None
    if args.size is not None:
        height, _, width = args.size.lower().partition("x")
        if not (height.isdigit() and width.isdigit()):
            raise ConfigError(f"--size {args.size} (expected HxW, e.g. 368x496)")
        size = (int(height), int(width))
    request = EngineRequest(
        model=args.model, precision=args.precision, calibrate=tuple(args.calibrate),
        frames=args.frames, source=args.source, size=size, height=args.height,
        max_batch=args.max_batch, cache_dir=args.cache_dir, device=args.device,
        spec=args.model_spec)
    engine, calibration = prebuild(request, frames=sample_frames)
    print(f"engine: {engine}" + (f"\ncalibration cache: {calibration}" if calibration else ""))
    options = " ".join(f"--backend-option {k}={v}" for k, v in
                       request.backend_options().items())
    print(f"a run loads it with: --backend tensorrt {options}")
    return 0


def _add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", metavar="IMAGES",
                   help="folder of images, image file or glob (the annotated images)")
    p.add_argument("annotations", type=Path, metavar="ANN.json",
                   help="COCO keypoint annotation file; images are matched by file name")
    p.add_argument("--json", dest="metrics_json", type=Path, metavar="OUT.json",
                   help="also write the metrics as JSON")
    p.add_argument("--config", type=Path, metavar="PIPELINE.toml", help=(
        "pipeline config file: its model, batching, performance and decoder settings (its "
        "sources and outputs are not used); command-line options win"))
    add_progress_arguments(p)
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default WARNING)")
    add_config_arguments(p, tables=EVAL_TABLES)


def eval_config(args: argparse.Namespace) -> PipelineConfig:
    """The config of ``eval``: the pipeline file's model settings (not its sources or
    outputs) with the command line's laid over them, IMAGES as the one source."""
    file_values = load_pipeline_file(args.config) if args.config is not None else {}
    kept = {table: values for table, values in file_values.items() if table in EVAL_TABLES}
    return build_config(kept, {**given_values(args), "sources": [args.images]},
                        log_level=getattr(logging, args.log_level))


def eval_command(args: argparse.Namespace, config: PipelineConfig) -> int:
    from streampose.evaluate import evaluate

    if args.metrics_json is not None:
        check_writable(args.metrics_json, "metrics JSON")
    progress = progress_display(args, config)
    try:
        metrics = evaluate(config, args.annotations, on_progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    print("\n".join(metrics.lines()))
    if args.metrics_json is not None:
        args.metrics_json.write_text(json.dumps(metrics.to_json(), indent=2) + "\n",
                                     encoding="utf-8")
    return 0


def config_of(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline file's values (``--config``), then a cameras file's (``--cameras``),
    with the command line's laid over them."""
    file_values = load_pipeline_file(args.config) if args.config is not None else {}
    cameras: tuple[Camera, ...] = ()
    if getattr(args, "cameras", None) is not None:
        if args.sources:
            raise ConfigError(f"--cameras {args.cameras}: the cameras file names the sources; "
                              f"remove SOURCE ({' '.join(map(redact, args.sources))}) from the "
                              "command line")
        cf = load_cameras(args.cameras)
        if not cf.cameras and args.max_streams is None:
            raise ConfigError(f"--cameras {args.cameras}: no cameras; add [[camera]] tables "
                              "with a name and a url (or give --max-streams N to wait for "
                              "some)")
        file_values = merge_values(file_values, cf.settings)
        cameras = cf.cameras
    elif getattr(args, "max_streams", None) is not None:
        raise ConfigError("--max-streams: seats are for the cameras of a cameras file; "
                          "give --cameras FILE")
    return checked_rules(build_config(file_values, given_values(args),
                                      log_level=getattr(logging, args.log_level),
                                      cameras=cameras, seats=seat_count(args, cameras)))


def checked_rules(config: PipelineConfig) -> PipelineConfig:
    """``config``, its event rules checked now: a bad rule is one ConfigError line (exit
    2) before a source is opened or a process started."""
    if config.events.enabled:
        from streampose.events import rules_from_config  # NumPy: only a run with rules

        rules_from_config(config.events)
    return config


def seat_count(args: argparse.Namespace, cameras: tuple[Camera, ...]) -> int | None:
    """How many seats whose cameras change a ``--cameras`` run gets: ``--max-streams``, else one per
    camera when every camera is live (the file is then watched); None: a fixed run."""
    if getattr(args, "cameras", None) is None:
        return None
    if args.max_streams is not None:
        return int(args.max_streams)
    return len(cameras) if cameras and all(c.is_live for c in cameras) else None


class LiveDisplay:
    """On a terminal: a progress bar (files of known length) and a status table, one row
    per stream (state, fps in/out, counters but those in ``hidden``, latency p50/p95),
    plus per-stage busy %, redrawn once a second (``rich``), as wide as the terminal."""

    def __init__(self, *, hidden: tuple[str, ...] = ()) -> None:
        from streampose.observe.terminal import StatusDisplay

        self.display, self.hidden = StatusDisplay(), hidden

    def __call__(self, progress: Progress) -> None:
        from streampose.observe.terminal import status_table

        live = progress.live
        self.display.update(status_table(streams=live.streams if live else [],
                                         stages=live.stages if live else [],
                                         header=progress_bar(progress), hidden=self.hidden))

    def finish(self) -> None:
        self.display.close()


def progress_display(args: argparse.Namespace,
                     config: PipelineConfig) -> LiveDisplay | ProgressLog | None:
    """How a run shows its progress: the live status on a terminal (stderr), else one
    line every ``--progress-every`` seconds; None with ``--no-progress`` (or 0 s off a
    terminal)."""
    if args.no_progress:
        return None
    if sys.stderr.isatty():
        return LiveDisplay(hidden=unused_counters(config))
    if args.progress_every <= 0:
        return None
    from streampose.observe.progress_log import ProgressLog

    return ProgressLog(every_s=args.progress_every)


def unused_counters(config: PipelineConfig) -> tuple[str, ...]:
    """The status table's counters this run never moves, left out of it: MQTT drops
    without ``--mqtt``, events without rules, carried frames without ``--interval`` or
    ``--motion``, reconnects without a live source."""
    live = config.cameras_change or any(is_live_uri(s) for s in config.sources)
    unused = {"mqtt_dropped": config.mqtt.url is None, "events": not config.events.enabled,
              "carried": config.model.interval == 0 and config.motion.mode == "off",
              "reconnects": not live}
    return tuple(name for name, idle in unused.items() if idle)


def progress_bar(progress: Progress) -> str | None:
    """``[####    ] 120/300 frames  12.0 fps  ETA 15 s`` when every total is known."""
    totals = progress.totals
    if not totals or any(t is None for t in totals):
        return None
    total = sum(t for t in totals if t is not None)
    done = sum(s["frames_out"] for s in progress.streams)
    fps = done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
    eta = f"{(total - done) / fps:4.0f} s" if fps > 0 else "   ?"
    filled = int(30 * done / total) if total else 30
    return f"[{'#' * filled:<30}] {done}/{total} frames  {fps:5.1f} fps  ETA {eta}"


def summary_line(summary: Summary) -> str:
    streams = summary.streams
    frames_in = sum(s["frames_in"] for s in streams)
    dropped = sum(s["dropped"] for s in streams)
    damaged = sum(s.get("decode_errors", 0) for s in streams)
    errors = f", {damaged} decode errors skipped" if damaged else ""
    busy = ", ".join(f"{s['stage']} {100 * s['busy']:.0f}%" for s in summary.stages)
    steady = f"{summary.steady_fps:.1f}" if summary.steady_fps else "-"
    mqtt = sum(s.get("mqtt_dropped", 0) for s in streams)
    return (f"streampose: {frames_in} frames in, {summary.frames_out} out, {dropped} dropped"
            f"{errors} in {summary.wall_s:.1f} s ({summary.fps:.1f} fps, {steady} fps after "
            f"start-up); busy: {busy}" + (f"; MQTT messages dropped: {mqtt}" if mqtt else "")
            + memory_text(summary))


def memory_text(summary: Summary) -> str:
    """``; memory peak: 580 MB PSS, 890 MB RSS, 9 processes`` (the whole process tree);
    "" where it was not measured."""
    tree = summary.extra.get("memory", {}).get("tree")
    if not tree:
        return ""
    return (f"; memory peak: {tree['peak_pss_mb']:.0f} MB PSS, {tree['peak_rss_mb']:.0f} MB "
            f"RSS, {tree['processes']} processes")


def run_command(args: argparse.Namespace, config: PipelineConfig) -> int:
    from streampose.pipeline import Pipeline

    watched = getattr(args, "cameras", None) if config.cameras_change else None
    pipeline = Pipeline(config, cameras_file=watched)
    progress = progress_display(args, config)
    try:
        summary = pipeline.run(on_progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    print(summary_line(summary), file=sys.stderr)
    if summary.signal is not None:
        return 128 + summary.signal
    return 0


class Terminated(BaseException):
    """SIGTERM before the supervisor watches (or after it has finished): like Ctrl-C,
    it unwinds what was opened; exit 143."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        if argv is None:
            argv = sys.argv[1:]
        if argv[:1] == ["export"]:
            args = build_parser().parse_args(argv)
            logging.basicConfig(level=getattr(logging, args.log_level))
            return export_command(args)
        args = build_parser().parse_args(argv)
        if args.command == "quantize":
            _log_to_stderr(args.log_level)
            return quantize_command(args)
        if args.command == "engine":
            _log_to_stderr(args.log_level)
            return engine_command(args)
        if args.command == "models":
            _log_to_stderr("WARNING")
            return models_command(args)
        if args.command == "fleet":
            _log_to_stderr("WARNING")
            return fleet_command(args)
        if args.command == "eval":
            config = eval_config(args)
            _log_to_stderr(args.log_level)
            return eval_command(args, config)
        config = config_of(args)
        _log_to_stderr(args.log_level)
        return run_command(args, config)
    except StreamposeError as exc:
        print(f"streampose: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("streampose: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print("streampose: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level),
                        format="%(levelname)s %(name)s: %(message)s")


if __name__ == "__main__":
    sys.exit(main())
