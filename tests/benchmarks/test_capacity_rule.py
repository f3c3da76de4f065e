"""benchmarks/capacity_rule.py: the metrics read, the window, the stop rule and the table
(synthetic figures; nothing is timed)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from capacity_recall import CameraRecall, unknown  # noqa: E402
from capacity_rule import (  # noqa: E402  (benchmarks/ is a script folder, not a package)
    Result,
    Scrape,
    StreamWindow,
    Trial,
    cameras_held,
    configs_from_toml,
    flowing,
    histogram_quantile,
    judge,
    next_cameras,
    parse_config,
    parse_metrics,
    stream_window,
    table,
)

BOUNDS = (0.25, 0.5, 1.0, 2.5, math.inf)

EXPOSITION = """\
# TYPE streampose_frames_in_total counter
streampose_frames_in_total{stream="0"} 120.0
streampose_frames_in_total{stream="1"} 118.0
streampose_frames_out_total{stream="0"} 115.0
streampose_frames_out_total{stream="1"} 110.0
streampose_dropped_frames_total{stream="0"} 0.0
streampose_dropped_frames_total{stream="1"} 3.0
streampose_stream_state{state="online",stream="0"} 1.0
streampose_stream_state{state="starting",stream="1"} 1.0
streampose_stream_state{state="online",stream="1"} 0.0
# TYPE streampose_uptime_seconds gauge
streampose_uptime_seconds 21.5
# TYPE streampose_frame_latency_seconds histogram
streampose_frame_latency_seconds_bucket{le="0.5",stream="0"} 100.0
streampose_frame_latency_seconds_bucket{le="1.0",stream="0"} 115.0
streampose_frame_latency_seconds_bucket{le="+Inf",stream="0"} 115.0
streampose_frame_latency_seconds_count{stream="0"} 115.0
streampose_frame_latency_seconds_sum{stream="0"} 40.0
"""


def buckets(*counts: float) -> list[tuple[float, float]]:
    """Cumulative buckets over BOUNDS from per-bucket counts."""
    total, out = 0.0, []
    for bound, count in zip(BOUNDS, counts, strict=True):
        total += count
        out.append((bound, total))
    return out


def scrape(uptime: float, frames_in: float, frames_out: float, dropped: float,
           latency: list[tuple[float, float]]) -> Scrape:
    return Scrape(uptime=uptime, frames_in={0: frames_in}, frames_out={0: frames_out},
                  dropped={0: dropped}, latency={0: latency}, online={0: True})


def window(lag: float | None = 0.3, drop: float = 0.0, out: int = 300) -> StreamWindow:
    return StreamWindow(stream=0, frames_in=out, frames_out=out, dropped=0, unread=0,
                        drop=drop, lag_p95=lag)


def trial(cameras: int, holds: bool = True, **figures: float) -> Trial:
    streams = [window(**figures) for _ in range(cameras)]  # type: ignore[arg-type]
    return Trial(cameras=cameras, seconds=30.0, streams=streams, cpu_s=15.0 * cameras,
                 holds=holds, why="holds" if holds else "stream 0: lag p95 1.40 > 1 s")


def test_metrics_are_read_per_stream() -> None:
    read = parse_metrics(EXPOSITION)
    assert read.uptime == 21.5
    assert read.frames_in == {0: 120.0, 1: 118.0} and read.dropped == {0: 0.0, 1: 3.0}
    assert read.latency[0] == [(0.5, 100.0), (1.0, 115.0), (math.inf, 115.0)]
    assert read.online == {0: True, 1: False}
    assert flowing(read, 1) and not flowing(read, 2)


def test_quantile_interpolates_within_its_bucket() -> None:
    assert histogram_quantile(0.95, buckets(0, 0, 100, 0, 0)) == pytest.approx(0.975)
    assert histogram_quantile(0.5, buckets(100, 0, 0, 0, 0)) == pytest.approx(0.125)
    assert histogram_quantile(0.95, buckets(90, 5, 5, 0, 0)) == pytest.approx(0.5)
    assert histogram_quantile(0.95, buckets(90, 0, 4, 6, 0)) == pytest.approx(1.25)
    assert histogram_quantile(0.95, buckets(50, 0, 0, 0, 50)) == math.inf
    assert histogram_quantile(0.95, buckets(0, 0, 0, 0, 0)) is None


def test_window_counts_only_the_steady_part() -> None:
    first = scrape(20.0, 100, 95, 2, buckets(0, 0, 95, 0, 0))  # warm-up: all late
    last = scrape(50.0, 400, 395, 2, buckets(300, 0, 95, 0, 0))
    s = stream_window(0, first, last, fps=10)
    assert (s.frames_in, s.frames_out, s.dropped, s.unread) == (300, 300, 0, 0)
    assert s.lag_p95 == pytest.approx(0.2375) and s.drop == 0.0  # the late ones are gone


def test_window_counts_drops_and_frames_never_read() -> None:
    first = scrape(0.0, 0, 0, 0, buckets(0, 0, 0, 0, 0))
    last = scrape(30.0, 280, 270, 10, buckets(270, 0, 0, 0, 0))
    s = stream_window(0, first, last, fps=10)
    assert s.dropped == 10 and s.unread == 300 - 280 - 2  # two frames of slack
    assert s.drop == pytest.approx((10 + 18) / 300)


@pytest.mark.parametrize(("figures", "holds", "why"), [
    ({"lag": 0.99, "drop": 0.01}, True, "holds"),
    ({"lag": 1.01}, False, "lag p95 1.01 > 1 s"),
    ({"lag": math.inf}, False, "lag p95 inf > 1 s"),
    ({"drop": 0.011}, False, "drops 1.1% > 1%"),
    ({"out": 0}, False, "no frames out"),
    ({"lag": None}, False, "lag p95 - > 1 s"),
])
def test_stop_rule(figures: dict[str, float], holds: bool, why: str) -> None:
    t = Trial(cameras=1, seconds=30.0, streams=[window(**figures)], cpu_s=3.0)  # type: ignore[arg-type]
    judged = judge(t, max_lag=1.0, max_drop=0.01)
    assert judged.holds is holds and why in judged.why


def test_a_failed_run_does_not_hold() -> None:
    t = judge(Trial(cameras=3, seconds=0.0, streams=[], cpu_s=None, error="exited 5"),
              max_lag=1.0, max_drop=0.01)
    assert not t.holds and t.why == "exited 5" and t.cpu_per_camera is None


def test_sweep_adds_cameras_until_one_fails_or_the_ceiling() -> None:
    assert next_cameras([], start=1, max_cameras=4) == 1
    assert next_cameras([trial(1)], start=1, max_cameras=4) == 2
    assert next_cameras([trial(1), trial(2, holds=False)], start=1, max_cameras=4) is None
    assert next_cameras([trial(3), trial(4)], start=3, max_cameras=4) is None
    assert cameras_held([trial(1), trial(2), trial(3, holds=False)]) == 2
    assert cameras_held([trial(1, holds=False)]) == 0


def test_trial_figures() -> None:
    t = trial(2, lag=0.4)
    t.streams[1].lag_p95, t.streams[1].drop = 0.8, 0.005
    assert t.fps == pytest.approx(20.0) and t.lag_p95 == 0.8 and t.drop == 0.005
    assert t.cpu_per_camera == pytest.approx(0.5)
    assert t.cpu_ms_per_frame == pytest.approx(1000 * 30.0 / 600)
    assert t.to_json()["lag_p95_s"] == 0.8


def test_table_gives_the_largest_n_held_and_why_the_next_failed() -> None:
    held, failed = trial(2), trial(3, holds=False)
    held.camera0_recall = CameraRecall(frames_out=400, frames_scored=5, people=30, hits=27,
                                       poses=28, ignored=1, recall=0.9, precision=1.0,
                                       alignment="alignment 0.95 vs 0.30")
    failed.camera0_recall = unknown(50, "no ground-truth frame among the output frames")
    results = [
        Result(config="mnv2s", args="--model m.onnx", clip="vtest.mp4", ceiling=4,
               trials=[trial(1), held, failed]),
        Result(config="fake", args="--backend fake", clip="vtest.mp4", ceiling=2,
               trials=[trial(1), trial(2)]),
        Result(config="slow", args="--height 960", clip="vtest_1080p_300f.mp4", ceiling=4,
               trials=[trial(1, holds=False)]),
    ]
    rows = table(results).splitlines()
    assert rows[2] == ("| mnv2s | vtest.mp4 | 2 | 20.0 | 0.30 | 0.0 | 0.50 | "
                       "0.90 / 1.00 (5 GT frames; alignment 0.95 vs 0.30) | "
                       "3 (30.0 fps out, CPU 50 ms/frame, camera 0 recall unknown: "
                       "no ground-truth frame among the output frames): "
                       "stream 0: lag p95 1.40 > 1 s |")
    assert rows[3].startswith("| fake | vtest.mp4 | 2+ | 20.0 |") and rows[3].endswith(
        "| - | - |")
    assert rows[4].startswith("| slow | vtest_1080p_300f.mp4 | 0 | - | - | - | - | - | "
                              "1 (10.0 fps out, CPU 50 ms/frame, camera 0 recall -): ")
    assert results[0].to_json()["cameras_held"] == 2
    figures = results[0].to_json()["trials"][1]["camera0_recall"]
    assert (figures["recall"], figures["precision"], figures["frames_scored"]) == (0.9, 1.0, 5)
    assert results[1].to_json()["limit_found"] is False


def test_configurations_are_named() -> None:
    assert parse_config("mnv2s=--model m.onnx --height 368") == (
        "mnv2s", "--model m.onnx --height 368")
    assert parse_config("--model ../shared/models/yolo11n-pose.onnx --height 960") == (
        "yolo11n-pose --height 960", "--model ../shared/models/yolo11n-pose.onnx --height 960")
    assert configs_from_toml({"config": [
        {"name": "int8", "args": ["--model", "q int8.onnx"]},
        {"args": "--model a.onnx --interval 2"}]}) == [
        ("int8", "--model 'q int8.onnx'"), ("a --interval 2", "--model a.onnx --interval 2")]
