"""Command line: ``streampose run SOURCE... [options]``.

Exit codes: 0 success; 1 unexpected internal error; 2 bad usage or configuration;
3 source cannot be opened or decoded; 4 output cannot be written; 5 model or model spec
problem; 6 a pipeline stage failed; 130 interrupted (SIGINT); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from streampose import __version__
from streampose.config import PipelineConfig
from streampose.config._old_flat import LiveOptions
from streampose.configfile import load_pipeline_file
from streampose.errors import ConfigError, StreamposeError
from streampose.pipeline import Pipeline, Progress, Summary
from streampose.sinks.status import StatusDisplay, format_status

log = logging.getLogger("streampose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streampose", description=(
        "Real-time multi-person pose estimation on video: decode, preprocess, inference, "
        "PAF grouping and rendering run as separate processes over shared memory."))
    parser.add_argument("--version", action="version", version=f"streampose {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on videos, images or live cameras")
    _add_run_arguments(run)
    export = sub.add_parser("export", help="export a built-in torch network to ONNX")
    _add_export_arguments(export)
    return parser


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
    from streampose.pipeline import resolve_network_weights

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


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="video file, image file, folder of images or glob")
    p.add_argument("--config", type=Path, metavar="PIPELINE.toml",
                   help="pipeline config file (pipelines/*.toml); command-line options win")
    p.add_argument("-o", "--output", dest="video_out", metavar="OUT.mp4",
                   help="annotated video (H.264 MP4), or a folder ending in / for image "
                        "sources; {stream} is replaced by the stream index")
    p.add_argument("--json", dest="json_out", type=Path, metavar="OUT.jsonl",
                   help="per-frame keypoints as JSON lines")
    p.add_argument("--coco", dest="coco_out", type=Path, metavar="OUT.json",
                   help="COCO keypoint results file (pycocotools loadRes)")
    p.add_argument("--openpose-json", dest="openpose_dir", type=Path, metavar="DIR",
                   help="one OpenPose-format JSON file per frame in DIR")
    p.add_argument("--model", type=Path,
                   help="model file (ONNX) or a built-in network name (lightweight-openpose); "
                        "required here or in --config")
    p.add_argument("--model-spec", type=Path, help="model spec TOML (default: sidecar or built-in)")
    p.add_argument("--backend", default="onnxruntime",
                   help="onnxruntime, torch, tensorrt, or auto: the fastest available "
                        "(default %(default)s)")
    p.add_argument("--device", default=None,
                   help="cpu or cuda[:N] (default: cpu; with --backend auto, a GPU if any)")
    p.add_argument("--weights", metavar="CKPT",
                   help="checkpoint for a built-in network (--model lightweight-openpose); "
                        "'random' for untrained weights (plumbing only)")
    p.add_argument("--threads", type=int, help="inference threads (default: the backend's)")
    p.add_argument("--backend-option", dest="backend_options", action="append", default=[],
                   type=backend_option, metavar="KEY=VALUE",
                   help="backend-specific option, repeatable (e.g. spin=true for onnxruntime)")
    p.add_argument("--device-ops", choices=["auto", "on", "off"], default="auto",
                   help="letterbox and peak NMS on the inference device, so frames go up as "
                        "uint8 and only fp16 PAFs and peaks come back (default auto: on for "
                        "torch/tensorrt on CUDA; needs torch)")
    p.add_argument("--height", type=int, default=368, help="network input height (default 368)")
    p.add_argument("--batch", type=int, default=1, help="max frames per inference batch")
    p.add_argument("--max-wait-ms", type=float, default=10.0,
                   help="longest wait to fill a batch after its first frame (default 10)")
    p.add_argument("--max-frames", type=int, help="stop each source after N frames")
    p.add_argument("--summary", dest="summary_out", type=Path, metavar="OUT.json",
                   help="write the run summary as JSON")
    p.add_argument("--postprocess-workers", type=int, default=1, help="PAF grouping processes")
    p.add_argument("--decode-threads", type=int, default=1, help="decoder threads per source")
    p.add_argument("--encoder-preset", default="ultrafast",
                   help="x264 preset (default ultrafast: least CPU; veryfast: ~3x smaller files)")
    p.add_argument("--crf", dest="encoder_crf", type=int, default=23, help="x264 quality (23)")
    p.add_argument("--no-tracking", dest="tracking", action="store_false",
                   help="no person ids (id -1 everywhere)")
    p.add_argument("--no-ids", dest="ids", action="store_false", help="don't draw person ids")
    p.add_argument("--boxes", action="store_true", help="draw a box around each person")
    p.add_argument("--blur-faces", action="store_true",
                   help="blur a region around each head (privacy)")
    p.add_argument("--min-confidence", type=float, default=0.0,
                   help="don't draw keypoints at or below this confidence")
    live = p.add_argument_group("live sources (rtsp://, http://, /dev/videoN or N)")
    live.add_argument("--rtsp-transport", choices=["tcp", "udp"], default="tcp",
                      help="RTSP transport (default tcp)")
    live.add_argument("--open-timeout", dest="open_timeout_s", type=float, default=10.0,
                      metavar="S", help="give up one connection attempt after S s (10)")
    live.add_argument("--read-timeout", dest="read_timeout_s", type=float, default=5.0,
                      metavar="S", help="a read waiting S s for data is a disconnect (5)")
    live.add_argument("--stall-timeout", dest="stall_timeout_s", type=float, default=5.0,
                      metavar="S", help="no frame for S s: reconnect (5)")
    live.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                      help="end a live stream when it drops instead of reconnecting")
    p.add_argument("--duration", dest="duration_s", type=float, metavar="S",
                   help="stop cleanly after S seconds (outputs finalised, exit 0)")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics")
    p.add_argument("--metrics-host", default="127.0.0.1",
                   help="address for --metrics-port (default 127.0.0.1, loopback only)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar or live status on a terminal")
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default WARNING)")


def backend_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as a bool, int, float or else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    value: object = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return key, value


LIVE_KEYS = ("rtsp_transport", "open_timeout_s", "read_timeout_s", "stall_timeout_s",
             "reconnect")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse; with ``--config``, the file's values become defaults and flags override them."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is not None:
        values = load_pipeline_file(args.config)
        run_parser = parser._subparsers._group_actions[0].choices["run"]
        run_parser.set_defaults(**values)
        args = parser.parse_args(argv)
        if not args.sources:
            args.sources = values.get("sources", [])
    if not args.sources:
        raise ConfigError("give at least one SOURCE (on the command line or in --config)")
    if args.model is None:
        raise ConfigError("--model is required (on the command line or in --config)")
    return args


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    names = ("model", "model_spec", "weights", "backend", "device", "threads", "height", "batch",
             "max_wait_ms", "max_frames", "video_out", "json_out", "summary_out",
             "postprocess_workers", "decode_threads", "encoder_preset", "encoder_crf",
             "coco_out", "openpose_dir", "tracking", "ids", "boxes", "blur_faces",
             "min_confidence", "metrics_port", "metrics_host", "duration_s", "device_ops")
    live = LiveOptions(**{n: getattr(args, n) for n in LIVE_KEYS})
    return PipelineConfig(sources=tuple(args.sources), log_level=getattr(logging, args.log_level),
                          live=live, backend_options=dict(args.backend_options),
                          **{n: getattr(args, n) for n in names})


class LiveDisplay:
    """On a terminal: a progress bar (files of known length) and a status line per stream
    (fps in/out, dropped, latency p50/p95) plus per-stage busy %, redrawn once a second."""

    def __init__(self) -> None:
        self.display = StatusDisplay()

    def __call__(self, progress: Progress) -> None:
        lines = []
        bar = progress_bar(progress)
        if bar:
            lines.append(bar)
        if progress.live is not None:
            lines += format_status(streams=progress.live.streams, stages=progress.live.stages)
        self.display.update(lines)

    def finish(self) -> None:
        self.display.close()


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
    busy = ", ".join(f"{s['stage']} {100 * s['busy']:.0f}%" for s in summary.stages)
    steady = f"{summary.steady_fps:.1f}" if summary.steady_fps else "-"
    return (f"streampose: {frames_in} frames in, {summary.frames_out} out, {dropped} dropped "
            f"in {summary.wall_s:.1f} s ({summary.fps:.1f} fps, {steady} fps after start-up); "
            f"busy: {busy}")


def run_command(args: argparse.Namespace) -> int:
    pipeline = Pipeline(config_from_args(args))
    progress = None
    if sys.stderr.isatty() and not args.no_progress:
        progress = LiveDisplay()
    try:
        summary = pipeline.run(on_progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    print(summary_line(summary), file=sys.stderr)
    if summary.signal is not None:
        return 128 + summary.signal
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        if argv is None:
            argv = sys.argv[1:]
        if argv[:1] == ["export"]:
            args = build_parser().parse_args(argv)
            logging.basicConfig(level=getattr(logging, args.log_level))
            return export_command(args)
        args = parse_args(argv)
        logging.basicConfig(level=getattr(logging, args.log_level),
                            format="%(levelname)s %(name)s: %(message)s")
        return run_command(args)
    except StreamposeError as exc:
        print(f"streampose: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("streampose: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())
