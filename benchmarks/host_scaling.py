"""Can the host side feed a fast accelerator? The pipeline on a simulated device.

The fake backend with ``latency_ms`` (default 2 ms per batch, a sleep that burns no CPU)
stands for an accelerator; everything else is the real pipeline: decode, letterbox,
pose decoding, tracking, drawing, H.264 and JSON lines. For 1, 2 and 4 streams of
``../shared/media/vtest.mp4``, each run gives:

- the aggregate steady rate (frames out per second, all streams, first to last frame);
- the host bound: cores / the CPU every process spent per frame out, measured in the
  same run from the stage reports (``cpu_s``: each process's CPU time while running),
  and the rate as a fraction of it;
- each process's busy share (``busy``: time in work / its wall time) and CPU share
  (CPU time / its wall time; a process's wall time includes its start-up).

Each stream count runs twice: render sharded by stream (``--render-shards``, default one
per stream) and one render process for comparison. Figures go to stdout, and with
``--json OUT`` as raw numbers with the core count. A short input (``--max-frames 60``)
checks the script; measure on a quiet machine.

    python benchmarks/host_scaling.py [--streams 1 2 4] [--max-frames N] [--latency-ms 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streampose import Pipeline, PipelineConfig
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.planning.layout import available_cores

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "media" / "vtest.mp4"
SPEC_NAME = Path("openpose-mnv2s-coco18.onnx")  # the fake backend needs only its spec


@dataclass
class Measured:
    """One run's figures."""

    streams: int
    render: str
    frames: int
    steady_fps: float
    fps: float
    cpu_ms_per_frame: float
    host_bound_fps: float
    stages: list[dict[str, Any]]

    @property
    def of_bound(self) -> float:
        return self.steady_fps / self.host_bound_fps if self.host_bound_fps else 0.0


def run(streams: int, render: str, args: argparse.Namespace, out: Path) -> Measured:
    config = PipelineConfig(
        sources=(str(args.video),) * streams,
        model=ModelConfig(path=SPEC_NAME, backend="fake", height=args.height,
                          backend_options={"latency_ms": args.latency_ms}),
        outputs=OutputsConfig(video=str(out / "v_{stream}.mp4"), json=out / "o.jsonl"),
        batching=BatchingConfig(batch=args.batch),
        performance=PerformanceConfig(max_frames=args.max_frames, render_shards=render,
                                      infer_workers=args.infer_workers,
                                      postprocess_workers=args.postprocess_workers))
    summary = Pipeline(config).run()
    cpu_s = sum(s["cpu_s"] for s in summary.stages)
    per_frame = cpu_s / summary.frames_out if summary.frames_out else 0.0
    return Measured(streams=streams, render=render, frames=summary.frames_out,
                    steady_fps=summary.steady_fps or summary.fps, fps=summary.fps,
                    cpu_ms_per_frame=1000 * per_frame,
                    host_bound_fps=args.cores / per_frame if per_frame else 0.0,
                    stages=[{"stage": s["stage"], "busy": s["busy"], "cpu_s": s["cpu_s"],
                             "cpu": s["cpu_s"] / s["wall_s"] if s["wall_s"] else 0.0,
                             "items": s["items"]}
                            for s in summary.stages])


def report(m: Measured) -> str:
    head = (f"{m.streams} stream(s), render {m.render:>5}: {m.steady_fps:6.1f} fps steady "
            f"({m.fps:5.1f} overall), {m.cpu_ms_per_frame:5.1f} ms CPU/frame, host bound "
            f"{m.host_bound_fps:6.1f} fps -> {m.of_bound:.2f} of the bound")
    stages = ", ".join(f"{s['stage']} {100 * s['busy']:.0f}%/{100 * s['cpu']:.0f}%cpu"
                       for s in m.stages)
    return f"{head}\n    busy: {stages}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--max-frames", type=int, default=None, help="frames per stream")
    parser.add_argument("--latency-ms", type=float, default=2.0,
                        help="simulated device time per batch")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--height", type=int, default=368, help="network input height")
    parser.add_argument("--render-shards", default=None,
                        help="render processes of the sharded run (default: one per stream)")
    parser.add_argument("--infer-workers", default="1")
    parser.add_argument("--postprocess-workers", type=int, default=1)
    parser.add_argument("--cores", type=int, default=available_cores(),
                        help="cores of the host bound (default: this machine's)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    args = parser.parse_args()
    if not args.video.exists():
        parser.error(f"{args.video}: no such video (the shared data folder beside the checkout)")
    print(f"{args.cores} cores, simulated device {args.latency_ms} ms per batch of "
          f"{args.batch}, {args.video.name}")
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        for streams in args.streams:
            for render in dict.fromkeys([args.render_shards or str(streams), "1"]):
                out = Path(tmp) / f"s{streams}_r{render}"
                out.mkdir()
                measured = run(streams, render, args, out)
                results.append(measured)
                print(report(measured), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"cores": args.cores, "latency_ms": args.latency_ms,
                                         "batch": args.batch, "video": str(args.video),
                                         "runs": [vars(m) | {"of_bound": m.of_bound}
                                                  for m in results]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
