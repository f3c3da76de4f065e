"""The stage runner (``stage_main``): the open/step/close life cycle in a spawned process,
error reports with their tracebacks, exit codes, items and busy time.

Each test runs one tiny Stage (module-level, so a spawned process can unpickle it) and
records its life cycle in a file, since the stage lives in another process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streampose.observe.stats import StageStats
from streampose.runtime.control import ErrorReport, StageControl, StageReport
from streampose.runtime.stage import Stage, stage_main
from tests.support.shm import SHM
from tests.support.waiting import wait_until

CTX = mp.get_context("spawn")
WAIT_S = 120.0  # a deadline for a loaded machine, not a speed requirement


class Broken(RuntimeError):
    """Raised on purpose; its ``exit_code`` travels in the error report."""

    exit_code = 5


class Scripted(Stage):
    """Does ``steps`` steps then finishes (or runs until stopped when ``steps`` is None);
    raises ``Broken`` in the method named by ``fail_in``; appends its life cycle to ``log``."""

    name = "scripted"

    def __init__(self, *, log: Path, steps: int | None = 3, fail_in: str = "") -> None:
        super().__init__()
        self.log, self.steps, self.fail_in = log, steps, fail_in

    def open(self) -> None:
        self._record("open")
        self._fail_if("open")

    def step(self) -> bool:
        if self.steps is not None and self.items >= self.steps:
            return False
        with self.busy():
            time.sleep(0.01)
        self.items += 1
        self._record("step")
        self._fail_if("step")
        return True

    def close(self) -> None:
        assert self.control is not None
        self._record(f"close stop={self.control.stop.is_set()}")
        self._fail_if("close")

    def extra_report(self) -> dict[str, Any]:
        return {"planned": self.steps}

    def _record(self, event: str) -> None:
        with self.log.open("a") as f:
            f.write(event + "\n")

    def _fail_if(self, method: str) -> None:
        if self.fail_in == method:
            raise Broken(f"{method} failed on purpose")


def events(log: Path) -> list[str]:
    """The life-cycle events a Scripted stage recorded, in order."""
    return log.read_text().splitlines() if log.exists() else []


@dataclass
class Outcome:
    """What a stage process left behind: exit code, error reports, its report, live stats."""

    exitcode: int | None
    errors: list[ErrorReport]
    reports: list[StageReport]
    stats: dict[str, tuple[int, float]]


def make_control(stage: Stage, *, parent_pid: int | None = None) -> StageControl:
    return StageControl(stop=CTX.Event(), stop_sources=CTX.Event(), errors=CTX.Queue(),
                        reports=CTX.Queue(),
                        parent_pid=os.getpid() if parent_pid is None else parent_pid,
                        stats=StageStats(stages=[stage.name], ctx=CTX),
                        opened=CTX.Value("i", 0), stages=1)


def start(stage: Stage, control: StageControl) -> Any:
    proc = CTX.Process(target=stage_main, args=(stage, control), daemon=True)
    proc.start()
    return proc


def finish(proc: Any, control: StageControl) -> Outcome:
    """Wait for the stage process to exit (killing it past the deadline) and collect."""
    proc.join(WAIT_S)
    if proc.is_alive():
        proc.kill()
        proc.join(5)
        pytest.fail(f"the stage process did not exit within {WAIT_S:.0f} s")
    return Outcome(proc.exitcode, drain(control.errors), drain(control.reports),
                   control.stats.snapshot())


def drain(q: Any) -> list[Any]:
    """Everything in ``q``; the process has exited, so its items are already sent."""
    items = []
    while True:
        try:
            items.append(q.get(timeout=2.0))
        except queue.Empty:
            return items


def run(stage: Stage, **control: Any) -> tuple[Outcome, StageControl]:
    ctl = make_control(stage, **control)
    return finish(start(stage, ctl), ctl), ctl


def test_a_stage_that_finishes_reports_items_and_busy_time(tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    outcome, control = run(Scripted(log=log, steps=3))
    assert outcome.exitcode == 0 and outcome.errors == []
    assert events(log) == ["open", "step", "step", "step", "close stop=False"]
    [report] = outcome.reports
    assert (report.stage, report.items, report.extra) == ("scripted", 3, {"planned": 3})
    assert report.pid not in (None, os.getpid())
    assert 0 < report.busy_s <= report.wall_s and 0 < report.busy <= 1
    assert report.cpu_s > 0  # the stage process's own CPU time (it imported, it ran)
    items, busy_s = outcome.stats["scripted"]
    assert items == 3 and busy_s == pytest.approx(report.busy_s)
    assert control.opened.value == 1


def test_open_failure_is_reported_and_close_is_not_called(tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    outcome, control = run(Scripted(log=log, fail_in="open"))
    assert outcome.exitcode == 1
    assert events(log) == ["open"]
    [error] = outcome.errors
    assert (error.stage, error.kind, error.message) == ("scripted", "Broken",
                                                        "open failed on purpose")
    assert error.exit_code == 5 and "in open" in error.traceback
    assert [r.items for r in outcome.reports] == [0]  # the report still comes
    assert control.opened.value == 0  # live sources would not wait for this stage


def test_step_failure_is_reported_with_its_traceback_and_close_still_runs(
        tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    outcome, _ = run(Scripted(log=log, fail_in="step"))
    assert outcome.exitcode == 1
    assert events(log) == ["open", "step", "close stop=False"]
    [error] = outcome.errors
    assert (error.kind, error.message) == ("Broken", "step failed on purpose")
    assert error.traceback.startswith("Traceback") and "in step" in error.traceback
    assert "Broken: step failed on purpose" in error.traceback
    assert [r.items for r in outcome.reports] == [1]


def test_close_failure_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    outcome, _ = run(Scripted(log=log, steps=2, fail_in="close"))
    assert outcome.exitcode == 1
    assert events(log) == ["open", "step", "step", "close stop=False"]
    [error] = outcome.errors
    assert (error.kind, error.message) == ("Broken", "close failed on purpose")
    assert "in close" in error.traceback
    assert [r.items for r in outcome.reports] == [2]


def test_the_stop_event_ends_a_stage_that_would_run_forever(tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    stage = Scripted(log=log, steps=None)
    control = make_control(stage)
    proc = start(stage, control)
    wait_until(lambda: "step" in events(log), timeout=WAIT_S, what="the first step")
    control.stop.set()
    outcome = finish(proc, control)
    assert outcome.exitcode == 0 and outcome.errors == []
    assert events(log)[-1] == "close stop=True"
    assert outcome.reports[0].items == events(log).count("step") >= 1


def test_a_stage_whose_parent_is_gone_stops_closes_and_clears_the_dead_run(
        tmp_path: Path) -> None:
    log = tmp_path / "life.txt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = [SHM / f"sp-{dead.pid}-deadbeef-frames", SHM / f"sem.sp-{dead.pid}-deadbeef-sem-x"]
    for path in left:
        path.write_bytes(b"x")
    try:
        outcome, _ = run(Scripted(log=log, steps=None), parent_pid=-1)  # not our parent
    finally:
        survivors = [p.name for p in left if p.exists()]
        for path in left:
            path.unlink(missing_ok=True)
    assert outcome.exitcode == 0 and outcome.errors == []
    assert events(log) == ["open", "close stop=False"]
    assert outcome.reports == []  # nobody is left to read it
    assert survivors == []  # what the dead run left in /dev/shm is gone


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stage_ignores_shutdown_signals(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGTERM/SIGINT sent to the whole process group reach the stages too: only the
    supervisor acts on them (here: nothing happens until the stop event)."""
    log = tmp_path / "life.txt"
    stage = Scripted(log=log, steps=None)
    control = make_control(stage)
    proc = start(stage, control)
    wait_until(lambda: "step" in events(log), timeout=WAIT_S, what="the first step")
    os.kill(proc.pid, sig)
    os.kill(proc.pid, sig)
    control.stop.set()
    outcome = finish(proc, control)
    assert outcome.exitcode == 0 and outcome.errors == []  # not killed by the signal
    assert events(log)[-1] == "close stop=True"


def test_busy_counts_the_time_inside_the_block_even_on_errors() -> None:
    stage = Scripted(log=Path("unused"))
    with stage.busy():
        time.sleep(0.02)
    with pytest.raises(Broken), stage.busy():
        time.sleep(0.02)
        raise Broken("inside")
    assert stage.busy_s >= 0.04  # a lower bound: time did pass


def test_stopping_without_a_control_is_false() -> None:
    assert Scripted(log=Path("unused")).stopping() is False
