"""benchmarks/soak_report.py: slopes, ranges, frame accounting and the printed report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import soak_report as rep  # noqa: E402  (benchmarks/ is a script folder, not a package)


def proc(pid: int, role: str, rss: float, *, pss: float | None = None, fds: int = 10,
         threads: int = 3) -> dict[str, Any]:
    return {"pid": pid, "role": role, "rss_mb": rss, "pss_mb": rss / 2 if pss is None else pss,
            "fds": fds, "threads": threads}


def sample(t: float, procs: list[dict[str, Any]], *, shm: int = 30,
           lag: float | None = 0.5, state: str = "online") -> dict[str, Any]:
    return {"t": t, "processes": procs, "shm": shm,
            "streams": [{"stream": 0, "state": state, "lag_p95": lag}]}


def growing_run() -> list[dict[str, Any]]:
    """Ten minutes sampled every minute: the parent grows 1 MB/min (60 MB/h), the stage
    (pid 11) is flat, with one fd more in one sample."""
    return [sample(60.0 * i, [proc(10, "parent", 100 + i),
                              proc(11, "stage", 50.0, fds=12 + (i == 5))])
            for i in range(11)]


def test_slope_of_a_straight_line_is_exact_per_hour() -> None:
    ts = [0.0, 600.0, 1200.0, 1800.0]
    assert rep.slope_per_hour(ts, [10 + 2 * t / 3600 for t in ts]) == pytest.approx(2.0)
    assert rep.slope_per_hour(ts, [5.0] * 4) == pytest.approx(0.0)


def test_slope_is_least_squares_not_first_to_last() -> None:
    # a spike in the middle does not tilt the fit; first-to-last would give 0 as well,
    # but an outlier at the end pulls the least-squares slope by a known amount
    assert rep.slope_per_hour([0, 1, 2, 3], [0, 0, 0, 6]) == pytest.approx(1.8 * 3600)


def test_slope_needs_two_distinct_times() -> None:
    assert rep.slope_per_hour([], []) is None
    assert rep.slope_per_hour([5.0, 5.0], [1.0, 2.0]) is None
    with pytest.raises(ValueError):
        rep.slope_per_hour([1.0, 2.0], [1.0])


def test_the_window_leaves_out_the_warmup_and_the_shutdown() -> None:
    assert [s["t"] for s in rep.in_window(growing_run(), 300.0)] == [
        300.0, 360.0, 420.0, 480.0, 540.0, 600.0]
    assert [s["t"] for s in rep.in_window(growing_run(), 300.0, 540.0)] == [
        300.0, 360.0, 420.0, 480.0]


def test_process_figures_name_stages_from_the_summary() -> None:
    figures = {f.pid: f for f in rep.all_process_figures(growing_run(), {11: "decode0"})}
    parent, stage = figures[10], figures[11]
    assert (parent.name, stage.name) == ("parent", "decode0")
    assert parent.rss_slope_mb_h == pytest.approx(60.0)
    assert parent.pss_slope_mb_h == pytest.approx(30.0)
    assert (parent.rss_first_mb, parent.rss_last_mb, parent.samples) == (100, 110, 11)
    assert stage.rss_slope_mb_h == pytest.approx(0.0)
    assert stage.fds == (12, 13) and stage.threads == (3, 3)


def test_an_unnamed_stage_keeps_its_pid() -> None:
    assert rep.process_name(42, "stage", {}) == "stage-42"
    assert rep.process_name(42, "forkserver", {}) == "forkserver"


def test_tree_figures_sum_the_processes_per_sample() -> None:
    run = growing_run()
    run[3]["shm"] = 31
    tree = rep.tree_figures(run)
    assert tree["rss_total_mb"] == (150.0, 160.0)
    assert tree["rss_total_slope_mb_h"] == pytest.approx(60.0)
    assert tree["pss_total_mb"] == (75.0, 80.0)
    assert tree["pss_total_slope_mb_h"] == pytest.approx(30.0)
    assert tree["processes"] == (2, 2)
    assert tree["fds_total"] == (22, 23) and tree["threads_total"] == (6, 6)
    assert tree["shm_entries"] == (30, 31)
    assert rep.tree_figures([])["shm_entries"] is None


def test_stream_lag_skips_samples_without_a_figure() -> None:
    run = [sample(0, [], lag=None, state="starting"), sample(1, [], lag=0.4),
           sample(2, [], lag=2.0, state="reconnecting"), sample(3, [], lag=0.6)]
    lag = rep.stream_lag(run, 0)
    assert lag == {"lag_p95_median_s": 0.6, "lag_p95_max_s": 2.0,
                   "states": ["online", "reconnecting", "starting"]}
    assert rep.stream_lag(run, 1)["lag_p95_max_s"] is None


def summary_stream(**overrides: Any) -> dict[str, Any]:
    return {"stream": 0, "frames_in": 1000, "frames_out": 600, "dropped": 400,
            "mqtt_dropped": 20, "reconnects": 2, **overrides}


def test_frame_accounting_when_nothing_is_lost() -> None:
    count = rep.frame_count(summary_stream(), json_lines=600, recorded=600, mqtt_poses=580)
    assert (count.lost, count.json_missing, count.recording_missing,
            count.mqtt_uncounted) == (0, 0, 0, 0)


def test_frame_accounting_finds_every_kind_of_loss() -> None:
    count = rep.frame_count(summary_stream(dropped=390), json_lines=598, recorded=None,
                            mqtt_poses=570)
    assert count.lost == 10 and count.json_missing == 2
    assert count.recording_missing is None and count.mqtt_uncounted == 10


def test_input_gap_is_wall_time_less_the_frames_at_the_camera_rate() -> None:
    assert rep.input_gap_s(frames_in=900, fps=10.0, wall_s=100.0) == pytest.approx(10.0)


def make_report() -> rep.Report:
    run = growing_run()
    warm = rep.in_window(run, 120.0)
    frames = [rep.frame_count(summary_stream(), json_lines=600, recorded=600,
                              mqtt_poses=None)]
    return rep.Report(
        settings={"cameras": 1, "warmup": 2.0},
        faults=[{"kind": "camera", "target": 0, "down_at_s": 100.0, "up_at_s": 106.5}],
        processes=rep.all_process_figures(warm, {11: "render"}),
        tree=rep.tree_figures(warm), tree_whole_run=rep.tree_figures(run), frames=frames,
        lag={0: rep.stream_lag(warm, 0)}, outage_s={0: 6.5}, input_gap_s={0: 12.0},
        wall_s=600.0, exit_code=0, notes=["a note"])


def test_the_printed_report_has_a_row_per_process_and_per_camera() -> None:
    text = rep.format_report(make_report())
    lines = text.splitlines()
    assert lines[0].startswith("soak: 1 camera(s), 10.0 min, exit 0, 1 fault(s)")
    parent = next(x for x in lines if x.startswith("parent"))
    assert "+60.0" in parent and "+30.0" in parent and "102.0 -> 110.0" in parent
    assert any(x.startswith("render") and "12..13" in x for x in lines)
    camera = next(x for x in lines if x.startswith("camera 0"))
    assert "in 1000 = out 600 + dropped 400 + lost 0" in camera
    assert "MQTT poses -" in camera and "camera down 6 s, stream missing 12 s" in camera
    assert "/dev/shm entries 30..30" in text and lines[-1] == "a note"


def test_the_json_report_round_trips_with_the_derived_counts() -> None:
    data = json.loads(json.dumps(make_report().to_json()))
    assert data["frames"][0]["lost"] == 0 and data["frames"][0]["mqtt_uncounted"] is None
    assert data["processes"][0]["name"] == "parent"
    assert data["processes"][0]["rss_slope_mb_h"] == pytest.approx(60.0)
    assert data["tree"]["shm_entries"] == [30, 30]


def test_a_failed_fault_is_named_at_the_end() -> None:
    report = make_report()
    report.faults.append({"kind": "broker", "target": 0, "down_at_s": 300.0,
                          "up_at_s": 361.0, "error": "Failed: mosquitto exited"})
    text = rep.format_report(report)
    assert "2 fault(s) injected" in text.splitlines()[0]
    assert text.splitlines()[-1] == "fault at 300 s failed: Failed: mosquitto exited"
