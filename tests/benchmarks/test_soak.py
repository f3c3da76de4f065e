"""benchmarks/soak.py: the fault plan, the run's command line, and the report built from
what a soak leaves in its --out folder (no cameras, broker or run needed)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import soak  # noqa: E402  (benchmarks/ is a script folder, not a package)


def test_faults_come_at_their_intervals_cameras_in_turn_none_near_the_end() -> None:
    plan = soak.plan_faults(run_s=1200, cameras=2, camera_every_s=240, broker_every_s=300)
    assert [(f.at_s, f.kind, f.target) for f in plan] == [
        (240, "camera", 0), (300, "broker", 0), (480, "camera", 1), (600, "broker", 0),
        (720, "camera", 0), (900, "broker", 0), (960, "camera", 1)]  # none in the last minute


def test_no_interval_means_no_fault_of_that_kind() -> None:
    plan = soak.plan_faults(run_s=600, cameras=1, camera_every_s=0, broker_every_s=None)
    assert plan == []
    assert [f.kind for f in soak.plan_faults(run_s=600, cameras=1, camera_every_s=None,
                                             broker_every_s=200)] == ["broker", "broker"]


def test_the_run_has_console_mqtt_events_and_every_output() -> None:
    args = soak.parse_args(["--minutes", "1.5", "--run-arg=--height", "--run-arg", "256"])
    cmd = soak.run_command(args, ["rtsp://a/cam0", "rtsp://b/cam1"], "mqtt://127.0.0.1:5/soak",
                           8080, Path("/o"))
    assert cmd[1:6] == ["-m", "streampose", "run", "rtsp://a/cam0", "rtsp://b/cam1"]
    pairs = dict(itertools.pairwise(cmd))
    assert pairs["--serve"] == "127.0.0.1:8080" and pairs["--mqtt"] == "mqtt://127.0.0.1:5/soak"
    assert pairs["--events"] == "/o/events.jsonl" and pairs["--line"] == soak.LINE
    assert pairs["--duration"] == "90" and pairs["-o"] == "/o/cam_{stream}.mp4"
    assert pairs["--summary"] == "/o/summary.json" and cmd[-2:] == ["--height", "256"]


def test_outage_seconds_count_only_that_cameras_restarts() -> None:
    faults = [{"kind": "camera", "target": 0, "down_at_s": 10.0, "up_at_s": 16.5},
              {"kind": "broker", "target": 0, "down_at_s": 20.0, "up_at_s": 25.0},
              {"kind": "camera", "target": 1, "down_at_s": 30.0, "up_at_s": 36.0},
              {"kind": "camera", "target": 0, "down_at_s": 40.0, "up_at_s": 45.0}]
    assert soak.outage_seconds(faults, 0) == pytest.approx(11.5)
    assert soak.outage_seconds(faults, 2) == 0


class FakeService:
    """A camera or broker that records stop/start; ``fail`` makes start raise."""

    def __init__(self, log: list[str], name: str, *, fail: bool = False) -> None:
        self.log, self.name, self.fail = log, name, fail

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail:
            raise RuntimeError("not ready")


def test_the_injector_restarts_each_target_and_records_failures() -> None:
    log: list[str] = []
    cams = [FakeService(log, "cam0"), FakeService(log, "cam1", fail=True)]
    plan = [soak.Fault(at_s=0.0, kind="camera", target=1),
            soak.Fault(at_s=0.0, kind="broker"), soak.Fault(at_s=0.0, kind="camera")]
    injector = soak.Injector(plan=plan, cams=cams, mosquitto=FakeService(log, "broker"),
                             t0=time.monotonic(), camera_down_s=0.0, broker_down_s=0.0)
    injector.run()  # in this thread: the plan is due at once
    assert log == ["stop cam1", "start cam1", "stop broker", "start broker", "stop cam0",
                   "start cam0"]
    assert [(f["kind"], f["target"], f.get("error")) for f in injector.done] == [
        ("camera", 1, "RuntimeError: not ready"), ("broker", 0, None), ("camera", 0, None)]
    assert all(f["up_at_s"] >= f["down_at_s"] for f in injector.done)


def test_a_stopped_injector_does_no_more_faults() -> None:
    log: list[str] = []
    injector = soak.Injector(plan=[soak.Fault(at_s=3600.0, kind="broker")], cams=[],
                             mosquitto=FakeService(log, "broker"), t0=time.monotonic(),
                             camera_down_s=0.0, broker_down_s=0.0)
    injector.start()
    injector.stopping.set()
    injector.join(timeout=10)
    assert not injector.is_alive() and log == [] and injector.done == []


def proc(pid: int, role: str, rss: float) -> dict[str, Any]:
    return {"pid": pid, "role": role, "rss_mb": rss, "pss_mb": rss, "fds": 8, "threads": 2}


def leave_a_soak(out: Path) -> None:
    """What a one-camera soak of 400 s leaves: samples, the end state, summary, JSON."""
    with (out / soak.SAMPLES).open("w") as f:
        for i in range(5):
            f.write(json.dumps({"t": 100.0 * i, "shm": 12, "processes": [
                proc(7, "parent", 100.0), proc(9, "stage", 50.0 + i)],
                "streams": [{"stream": 0, "state": "online", "lag_p95": 0.3}]}) + "\n")
    (out / soak.RUN_END).write_text(json.dumps({
        "settings": vars(soak.parse_args(["--cameras", "1", "--minutes", "6.5"]))
        | {"model": "m", "video": "v"},
        "faults": [{"kind": "camera", "target": 0, "down_at_s": 150.0, "up_at_s": 156.0}],
        "wall_s": 400.0, "exit_code": 0, "mqtt": {"soak/cam-a/poses": 28}}))
    (out / "summary.json").write_text(json.dumps({
        "streams": [{"stream": 0, "camera": "cam-a", "frames_in": 3900, "frames_out": 30,
                     "dropped": 3870, "mqtt_dropped": 2, "reconnects": 1}],
        "stages": [{"stage": "decode0", "pid": 9}]}))
    (out / "poses.jsonl").write_text('{"stream": 0}\n' * 30)
    (out / "run.log").write_text("x WARNING y\nz\n")


def test_the_report_is_built_from_the_out_folder(tmp_path: Path) -> None:
    leave_a_soak(tmp_path)
    args = soak.parse_args(["--warmup", "2", "--report-only", str(tmp_path)])
    report, samples = soak.build_report(args, tmp_path)
    assert len(samples) == 5
    figures = {p.name: p for p in report.processes}
    assert set(figures) == {"parent", "decode0"}
    # t = 200 and 300: after the 2 min warm-up, before the end at 390 s (the shutdown)
    assert figures["decode0"].samples == 2
    assert report.settings["warmup"] == 2.0
    assert figures["decode0"].rss_slope_mb_h == pytest.approx(36.0)
    (frames,) = report.frames
    assert (frames.lost, frames.json_missing, frames.recorded, frames.mqtt_uncounted) == (
        0, 0, None, 0)
    assert report.outage_s == {0: 6.0} and report.input_gap_s[0] == pytest.approx(10.0)
    assert "1 warnings" in report.notes[0]


def test_report_only_prints_without_running(tmp_path: Path, capsys: Any) -> None:
    leave_a_soak(tmp_path)
    out = tmp_path / "r.json"
    assert soak.main(["--report-only", str(tmp_path), "--warmup", "1", "--json", str(out)]) == 0
    assert "camera 0: in 3900 = out 30 + dropped 3870 + lost 0" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["samples"]) == 5


@pytest.mark.slow
@pytest.mark.live
def test_a_short_soak_runs_with_its_faults_and_loses_no_frame(tmp_path: Path) -> None:
    """Half a minute, one camera, the fake backend: a camera and a broker restart, and
    every decoded frame is written or counted as dropped (figures otherwise meaningless)."""
    from tests.broker import mosquitto_or_skip
    from tests.live.camera import require_rtsp, require_vtest
    from tests.support.models import MODEL_NAME

    require_rtsp()
    require_vtest()
    mosquitto_or_skip()
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "soak.py"), "--cameras", "1", "--minutes", "0.6",
         "--camera-restart-every", "0.2", "--camera-down", "2", "--broker-restart-every",
         "0.3", "--broker-down", "2", "--sample-every", "2", "--warmup", "0.1",
         "--model", str(MODEL_NAME), "--run-arg=--backend", "--run-arg=fake",
         "--out", str(out), "--json", str(tmp_path / "soak.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "soak.json").read_text())
    assert [f["kind"] for f in report["faults"]] == ["camera", "broker", "camera"]
    (frames,) = report["frames"]
    assert frames["frames_in"] > 0 and frames["lost"] == 0
    assert frames["json_missing"] == 0 and frames["recording_missing"] == 0
    names = {p["name"] for p in report["processes"]}
    assert {"parent", "forkserver", "decode0", "render"} <= names
    assert report["tree_whole_run"]["shm_entries"][1] > 0
    assert "camera 0: in " in result.stdout
