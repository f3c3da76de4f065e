"""Live statistics: shared-memory stats written by a spawned child, rates, status lines."""

from __future__ import annotations

import io
import math
import multiprocessing as mp
from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console

from streampose.observe.counters import FIELDS, ITEM_FIELDS, MOTION_FIELDS, StreamCounters
from streampose.observe.stats import LatencyWindow, RateMeter, StageStats, counter_keys
from streampose.observe.terminal import StatusDisplay, stage_line, status_table

CTX = mp.get_context("spawn")
WAIT_S = 20.0


@dataclass
class Shared:
    stats: StageStats
    big: LatencyWindow     # 1 stream x 128 samples: holds all of stream 0's samples
    small: LatencyWindow   # 3 streams x 8 samples: stream 1 wraps, stream 2 stays empty
    counters: StreamCounters


def _child_writes(shared: Shared) -> None:
    """Runs in a spawned process: writes into the shared objects it was handed."""
    for _ in range(10):
        shared.stats.add("infer", items=2, busy_s=0.25)
    shared.stats.add("render", items=7)
    for i in range(101):  # 0.00 .. 1.00 s
        shared.big.record(0, i / 100)
    for i in range(1, 21):  # 1 .. 20 s into a window of 8
        shared.small.record(1, float(i))
    shared.counters.add(1, "frames_in", 5)


@pytest.fixture(scope="module")
def written() -> Shared:
    shared = Shared(StageStats(stages=["decode0", "infer", "render"], ctx=CTX),
                    LatencyWindow(streams=1, size=128, ctx=CTX),
                    LatencyWindow(streams=3, size=8, ctx=CTX),
                    StreamCounters(streams=2, ctx=CTX))
    proc = CTX.Process(target=_child_writes, args=(shared,))
    proc.start()
    proc.join(WAIT_S)
    assert proc.exitcode == 0
    return shared


def test_stage_stats_written_by_child(written: Shared) -> None:
    snap = written.stats.snapshot()
    assert list(snap) == ["decode0", "infer", "render"]
    assert snap["decode0"] == (0, 0.0)
    assert snap["infer"] == (20, pytest.approx(2.5))
    assert snap["render"] == (7, 0.0)


def test_latency_percentiles_from_child(written: Shared) -> None:
    window = written.big
    p50, p95 = window.percentiles(0)
    assert p50 == pytest.approx(0.50)
    assert p95 == pytest.approx(0.95)
    assert window.percentiles(0, qs=(0, 100)) == pytest.approx((0.0, 1.0))
    assert window.count(0) == 101
    assert window.total(0) == pytest.approx(50.5)


def test_latency_window_wraps(written: Shared) -> None:
    window = written.small
    assert sorted(window.values(1)) == [13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0]
    assert window.count(1) == 20
    assert window.total(1) == pytest.approx(210.0)
    assert window.percentiles(1, qs=(0, 50, 100)) == pytest.approx((13.0, 16.5, 20.0))


def test_latency_none_without_samples(written: Shared) -> None:
    assert written.small.percentiles(2) is None
    assert written.small.percentiles(0) is None
    assert written.small.count(2) == 0
    assert written.counters.get(1, "frames_in") == 5


def test_latency_window_in_process() -> None:
    window = LatencyWindow(streams=1, size=4, ctx=CTX)
    assert window.percentiles(0) is None
    for value in (5.0, math.nan, math.inf, 1.0):
        window.record(0, value)
    assert window.count(0) == 2
    assert window.percentiles(0, qs=(50,)) == pytest.approx((3.0,))
    with pytest.raises(IndexError):
        window.record(1, 1.0)


def test_stage_stats_rejects_unknown_and_duplicate_names() -> None:
    stats = StageStats(stages=["infer"], ctx=CTX)
    with pytest.raises(KeyError, match="unknown stage 'render'"):
        stats.add("render", items=1)
    with pytest.raises(ValueError, match="unique"):
        StageStats(stages=["a", "a"], ctx=CTX)
    assert StageStats(stages=[], ctx=CTX).snapshot() == {}


# -- RateMeter ---------------------------------------------------------------------------


def test_rate_meter_steady_rate() -> None:
    meter = RateMeter(window_s=2.0)
    assert meter.rate("a") == 0.0
    for tick in range(21):  # 10 units per second, a snapshot every 0.5 s
        meter.update(tick * 0.5, {"a": tick * 5, "busy": tick * 0.25})
    assert meter.rate("a") == pytest.approx(10.0)
    assert meter.rate("busy") == pytest.approx(0.5)
    assert meter.rates() == pytest.approx({"a": 10.0, "busy": 0.5})


def test_rate_meter_window_slides() -> None:
    meter = RateMeter(window_s=2.0)
    value = 0
    for tick in range(1, 41):
        value += 5 if tick <= 20 else 10  # 10/s for 10 s, then 20/s
        meter.update(tick * 0.5, {"a": value})
        if tick == 23:
            assert meter.rate("a") == pytest.approx(17.5)  # the window spans both rates
    assert meter.rate("a") == pytest.approx(20.0)


@pytest.mark.parametrize(("updates", "expected"), [
    ([(0.0, 100)], 0.0),                               # one sample: no rate yet
    ([(0.0, 0), (1.0, 10), (1.0, 99)], 10.0),          # same instant twice: the second ignored
    ([(0.0, 0), (1.0, 50), (2.0, 3), (3.0, 7)], 4.0),  # a counter reset restarts the key
    ([(0.0, 0), (1.0, 10), (0.5, 99)], 10.0),          # time going back is ignored
    ([(0.0, 0), (1.0, 10), (11.0, 30)], 2.0),          # a long gap: the last sample before it
])
def test_rate_meter_edge_cases(updates: list[tuple[float, int]], expected: float) -> None:
    meter = RateMeter(window_s=3.0)
    for now, value in updates:
        meter.update(now, {"k": value})
    assert meter.rate("k") == pytest.approx(expected)


def test_counter_keys() -> None:
    snap = [{"frames_in": 3, "dropped": 1}, {"frames_in": 4, "dropped": 0}]
    assert counter_keys(snap) == {"0/frames_in": 3, "0/dropped": 1,
                                  "1/frames_in": 4, "1/dropped": 0}



# -- status table ------------------------------------------------------------------------


def _stream(index: int, camera: str, **kw: Any) -> dict[str, Any]:
    base = {"stream": index, "camera": camera, "state": "online", "frames_in": 0,
            "frames_out": 0, "dropped": 0, "reconnects": 0, "fps_in": 0.0, "fps_out": 0.0,
            "latency_p50": None, "latency_p95": None}
    return base | kw


def _text(renderable: Any) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_status_table_shows_every_stream_counter_and_the_stages() -> None:
    out = _text(status_table(
        streams=[_stream(0, "cam0", fps_in=10.0, fps_out=9.8, dropped=12, latency_p50=0.41,
                         latency_p95=0.8),
                 _stream(1, "door", state="reconnecting", reconnects=2)],
        stages=[{"stage": "decode0", "busy_ratio": 0.35}, {"stage": "infer", "busy_ratio": 0.921}],
        header="[###   ] 3/9 frames"))
    lines = out.splitlines()
    assert lines[0].startswith("[###   ] 3/9 frames")
    header = lines[1].split()
    assert header[:2] == ["camera", "state"]
    shown = [name for name in FIELDS
             if name not in ("frames_in", "frames_out", *ITEM_FIELDS, *MOTION_FIELDS,
                             "rescaled")]
    assert all(name in header for name in shown)
    # left to the summary, the metrics and the console: the table is wide enough
    assert not any(name in header for name in (*ITEM_FIELDS, *MOTION_FIELDS, "rescaled"))
    cam0 = lines[2].split()
    assert cam0[:4] == ["cam0", "online", "10.0", "9.8"] and "12" in cam0
    assert cam0[-4:] == ["0.41", "s", "0.80", "s"]
    assert lines[3].split()[:2] == ["door", "reconnecting"] and lines[3].split()[-2:] == ["-", "-"]
    assert lines[-1] == "busy  decode0 35%  infer 92%"


def test_status_table_without_streams() -> None:
    assert _text(status_table(streams=[])).strip() == ""


def test_stage_line() -> None:
    assert stage_line([{"stage": "render", "busy_ratio": 0.0}]) == "busy  render 0%"


# -- StatusDisplay -----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_display_not_a_tty_writes_nothing() -> None:
    out = io.StringIO()
    display = StatusDisplay(stream=out)
    assert not display.active
    display.update("a")
    display.close()
    assert out.getvalue() == ""


def test_status_display_redraws_at_most_once_a_second_and_leaves_the_last() -> None:
    out, clock = io.StringIO(), _Clock()
    display = StatusDisplay(stream=out, clock=clock, force_tty=True)
    display.update("one")
    assert "one" in out.getvalue()
    clock.now += 0.5
    display.update("skipped")
    assert "skipped" not in out.getvalue()  # too soon: kept for later
    clock.now += 0.5
    display.update("three")
    assert "three" in out.getvalue() and "skipped" not in out.getvalue()
    clock.now += 0.2
    display.update("last")
    display.close()  # draws the pending one and leaves it
    assert out.getvalue().split("\x1b[2K")[-1].startswith("last\n")
    size = len(out.getvalue())
    display.close()
    display.update("after")
    assert len(out.getvalue()) == size
