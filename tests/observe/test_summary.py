"""The run summary's steady rate with one render process and with render shards; each
stream's entry (its counters, work items per inferred frame)."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from streampose.observe.counters import FIELDS, StreamCounters
from streampose.observe.stats import LatencyWindow
from streampose.observe.summary import Summary, summarise
from streampose.runtime.supervisor import RunResult

CTX = mp.get_context("spawn")


def summary(*renders: dict[str, object]) -> Summary:
    return Summary(streams=[], stages=[{"stage": "infer", "items": 99}, *renders], wall_s=1.0)


def test_one_render_gives_its_own_steady_rate() -> None:
    assert summary({"stage": "render", "items": 10, "steady_fps": 4.5}).steady_fps == 4.5
    assert summary({"stage": "render", "items": 1}).steady_fps is None


def test_render_shards_add_up_over_the_whole_span() -> None:
    shards = summary(
        {"stage": "render0", "items": 11, "steady_fps": 5.0, "first_out_at": 100.0,
         "last_out_at": 102.0},
        {"stage": "render1", "items": 10, "steady_fps": 3.0, "first_out_at": 101.0,
         "last_out_at": 104.0})
    assert shards.steady_fps == pytest.approx(20 / 4.0)  # 21 frames from 100 s to 104 s
    assert summary({"stage": "render0", "items": 0}, {"stage": "render1", "items": 0}
                   ).steady_fps is None


def test_each_stream_s_entry_has_its_counters_and_items_per_frame() -> None:
    counters = StreamCounters(streams=2, ctx=CTX)
    counters.add(0, "frames_in", 3)
    for inferred in (4, 4, 0):  # two frames of 2 x 2 tiles, one passed through
        counters.items(0, inferred=inferred)
    counters.items(1, inferred=0)
    summary = summarise(["a.mp4", "b.mp4"], RunResult(wall_s=2.0), counters,
                        LatencyWindow(streams=2, ctx=CTX), cameras=["a", "b"])
    first, second = summary.to_json()["streams"]
    assert list(first) == ["stream", "camera", "source", *FIELDS, "items_per_frame",
                           "regions_per_frame", "latency_p50_s", "latency_p95_s"]
    assert (first["frames_in"], first["frames_inferred"], first["work_items"],
            first["frames_skipped"], first["items_per_frame"]) == (3, 2, 8, 1, 4.0)
    assert (second["frames_inferred"], second["frames_skipped"]) == (0, 1)
    assert second["items_per_frame"] is None
    assert first["regions_per_frame"] is None  # no motion regions
