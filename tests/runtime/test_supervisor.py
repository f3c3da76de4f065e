"""The supervisor: processes per stage, the shutdown protocol (drain, drain timeout, second
signal), failures (a stage that raises, a stage that dies) and shared-memory cleanup.

The stages are tiny module-level Stage subclasses (picklable for the spawn context) that
record their life cycle in a file. Interrupts are real SIGINTs sent to this process from
the supervisor's ``on_tick`` callback once an observable condition holds; every wait has a
generous deadline and nothing here asserts speed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streampose.errors import StageError
from streampose.runtime.stage import Stage
from streampose.runtime.supervisor import Supervisor
from streampose.transport.messages import FRAME_CODEC
from streampose.transport.ring import SharedRing
from tests.support.shm import shm_segments

GIVE_UP_S = 120.0  # a stage waiting for a stop that never comes ends itself after this
STEP_S = 0.02      # each step sleeps a little: the machine is shared


class Worker(Stage):
    """Steps until its end comes, recording its life cycle in ``log``.

    ``until``: ``"steps"`` finishes after ``steps`` steps; ``"sources"`` finishes once the
    sources are told to stop (a source); ``"stop"`` only leaves on the hard stop (it would
    never drain), giving up after GIVE_UP_S so a broken supervisor fails instead of hanging;
    ``"stuck"`` sleeps GIVE_UP_S in one step once it has done ``steps`` (a hung model).
    ``fail``: at step ``steps``, ``"raise"`` raises, ``"exit"`` calls ``os._exit(3)``,
    ``"kill"`` SIGKILLs its own process. ``ring``: a slot of it is written in ``open``.
    """

    def __init__(self, *, name: str, log: Path, until: str = "steps", steps: int = 3,
                 fail: str = "", ring: SharedRing | None = None) -> None:
        super().__init__()
        self.name, self.log, self.until, self.steps, self.fail = name, log, until, steps, fail
        self.ring = ring
        self.started = 0.0

    def open(self) -> None:
        self.started = time.monotonic()
        if self.ring is not None:
            self._record(f"slot {self.write_slot(self.ring)}")
        self._record("open")

    def step(self) -> bool:
        assert self.control is not None
        if self.items == self.steps and self.fail:
            self._fail()
        if self.control.stop_sources.is_set():
            if "draining" not in self._events():
                self._record("draining")
            if self.until == "sources":
                return False
        if self.until == "steps" and self.items >= self.steps:
            return False
        if self.until == "stuck" and self.items >= self.steps:
            time.sleep(GIVE_UP_S)
            self._record("gave up")
            return False
        if time.monotonic() - self.started > GIVE_UP_S:
            self._record("gave up")
            return False
        with self.busy():
            time.sleep(STEP_S)
        self.items += 1
        return True

    def close(self) -> None:
        assert self.control is not None
        control = self.control
        self._record(f"close stop={control.stop.is_set()} sources={control.stop_sources.is_set()}")

    def _fail(self) -> None:
        if self.fail == "raise":
            raise ValueError(f"{self.name} broke on purpose")
        if self.fail == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)

    def _record(self, event: str) -> None:
        with self.log.open("a") as f:
            f.write(event + "\n")

    def _events(self) -> list[str]:
        return events(self.log)


def events(log: Path) -> list[str]:
    """The life-cycle events a Worker recorded, in order."""
    return log.read_text().splitlines() if log.exists() else []


def interrupter(sup: Supervisor, stage: str, *, times: int = 1,
                sig: signal.Signals = signal.SIGINT, group: bool = False,
                ) -> Callable[[float], None]:
    """An ``on_tick`` that sends ``sig`` once ``stage`` has done some work, and, when
    ``times`` is 2, a second one once the supervisor has acted on the first. ``group``:
    each stage gets it too, as when a service manager signals the whole process group
    (the real group here would be pytest's)."""
    sent: list[int] = []

    def on_tick(_now: float) -> None:
        assert sup.stage_stats is not None
        working = sup.stage_stats.snapshot()[stage][0] > 0
        first = not sent and working
        second = len(sent) == 1 < times and sup.stop_sources.is_set()
        if first or second:
            sent.append(sig)
            for pid in sup.pids.values() if group else ():
                os.kill(pid, sig)
            os.kill(os.getpid(), sig)

    return on_tick


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert shm_segments() == []


def test_each_stage_runs_in_its_own_process_and_reports(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with Supervisor() as sup:
        result = sup.run([Worker(name="a", log=a, steps=3), Worker(name="b", log=b, steps=5)])
        pids = sup.pids
    assert result.signal is None
    reports = {r.stage: r for r in result.reports}
    assert {name: r.items for name, r in reports.items()} == {"a": 3, "b": 5}
    assert {name: r.pid for name, r in reports.items()} == pids
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert events(a) == events(b) == ["open", "close stop=False sources=False"]


def test_rings_made_by_the_supervisor_are_unlinked_afterwards(tmp_path: Path) -> None:
    log = tmp_path / "w.txt"
    with Supervisor() as sup:
        ring = sup.ring(name="frames", slots=2, slot_bytes=64, codec=FRAME_CODEC)
        assert shm_segments() == [ring.name]
        sup.run([Worker(name="writer", log=log, steps=1, ring=ring)])
    assert events(log)[0] in ("slot 0", "slot 1")
    assert shm_segments() == []


def test_a_stage_that_raises_stops_the_others(tmp_path: Path) -> None:
    bad, steady = tmp_path / "bad.txt", tmp_path / "steady.txt"
    with Supervisor() as sup:
        ring = sup.ring(name="frames", slots=2, slot_bytes=64, codec=FRAME_CODEC)
        stages = [Worker(name="bad", log=bad, steps=2, fail="raise", ring=ring),
                  Worker(name="steady", log=steady, until="stop")]
        with pytest.raises(StageError, match="stage 'bad' failed: ValueError: bad broke") as err:
            sup.run(stages)
    assert err.value.stage == "bad" and err.value.exit_code == 6
    assert "Traceback" in err.value.remote_traceback and "in step" in err.value.remote_traceback
    assert events(bad)[-1].startswith("close ")  # its own close ran
    assert events(steady)[-1] == "close stop=True sources=False" and "gave up" not in events(steady)


@pytest.mark.parametrize(("fail", "how"), [("exit", r"exit code 3"),
                                           ("kill", r"killed by signal 9")])
def test_a_stage_that_dies_is_noticed(tmp_path: Path, fail: str, how: str) -> None:
    dying, steady = tmp_path / "dying.txt", tmp_path / "steady.txt"
    with Supervisor() as sup:
        sup.ring(name="frames", slots=2, slot_bytes=64, codec=FRAME_CODEC)
        stages = [Worker(name="dying", log=dying, steps=2, fail=fail),
                  Worker(name="steady", log=steady, until="stop")]
        with pytest.raises(StageError, match=rf"'dying' failed: the process died \({how}\)"):
            sup.run(stages)
    assert "close" not in " ".join(events(dying))
    assert events(steady)[-1] == "close stop=True sources=False" and "gave up" not in events(steady)


@pytest.mark.parametrize("fail", ["exit", "kill"])
def test_the_last_stage_dying_is_noticed(tmp_path: Path, fail: str) -> None:
    with Supervisor() as sup, pytest.raises(StageError, match=r"'dying'.*the process died"):
        sup.run([Worker(name="dying", log=tmp_path / "d.txt", steps=1, fail=fail)])


def test_first_signal_lets_the_sources_end_and_the_rest_drain(tmp_path: Path) -> None:
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    with Supervisor(drain_timeout_s=600, tick_s=0.05) as sup:
        result = sup.run([Worker(name="source", log=source, until="sources"),
                          Worker(name="sink", log=sink, steps=1)],
                         on_tick=interrupter(sup, "source"))
    assert result.signal == signal.SIGINT
    assert events(source)[-2:] == ["draining", "close stop=False sources=True"]  # not stopped
    assert {r.stage for r in result.reports} == {"source", "sink"}


def test_drain_timeout_stops_a_stage_that_never_finishes(tmp_path: Path) -> None:
    log = tmp_path / "stuck.txt"
    with Supervisor(drain_timeout_s=1.0, tick_s=0.05) as sup:
        result = sup.run([Worker(name="stuck", log=log, until="stop")],
                         on_tick=interrupter(sup, "stuck"))
    assert result.signal == signal.SIGINT
    assert events(log)[-1] == "close stop=True sources=True"  # the drain ended in the stop
    assert "gave up" not in events(log)


def test_duration_ends_the_sources_like_a_first_interrupt_without_a_signal(
        tmp_path: Path) -> None:
    log = tmp_path / "source.txt"
    with Supervisor(drain_timeout_s=600) as sup:
        result = sup.run([Worker(name="source", log=log, until="sources")], duration_s=0.5)
    assert result.signal is None
    assert events(log)[-1] == "close stop=False sources=True"


def test_second_signal_stops_at_once(tmp_path: Path) -> None:
    log = tmp_path / "stuck.txt"
    with Supervisor(drain_timeout_s=600, tick_s=0.05) as sup:  # only a 2nd signal can end it
        result = sup.run([Worker(name="stuck", log=log, until="stop")],
                         on_tick=interrupter(sup, "stuck", times=2))
    assert result.signal == signal.SIGINT
    assert events(log)[-1] == "close stop=True sources=True"
    assert "gave up" not in events(log)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_whole_group_drains_like_one_to_the_parent(
        tmp_path: Path, sig: signal.Signals) -> None:
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    with Supervisor(drain_timeout_s=600, tick_s=0.05) as sup:
        result = sup.run([Worker(name="source", log=source, until="sources"),
                          Worker(name="sink", log=sink, until="sources")],
                         on_tick=interrupter(sup, "source", sig=sig, group=True))
    assert result.signal == sig
    for log in (source, sink):  # neither died of the signal: both drained and closed
        assert events(log)[-2:] == ["draining", "close stop=False sources=True"]
    assert {r.stage for r in result.reports} == {"source", "sink"}


def test_a_stage_signalled_while_it_starts_survives(tmp_path: Path) -> None:
    """Stages are spawned with SIGINT/SIGTERM blocked until they ignore them: a signal to
    the group while a stage is still importing does not kill it."""
    sent: list[int] = []

    def signal_at_once(_now: float) -> None:  # the first tick: stages have just spawned
        if not sent:
            for pid in sup.pids.values():
                os.kill(pid, signal.SIGTERM)
                sent.append(pid)

    with Supervisor() as sup:
        result = sup.run([Worker(name="a", log=tmp_path / "a.txt", steps=3)],
                         on_tick=signal_at_once)
    assert sent and [r.items for r in result.reports] == [3]


def test_a_stuck_stage_is_killed_after_the_second_signal(tmp_path: Path) -> None:
    log = tmp_path / "stuck.txt"
    with Supervisor(drain_timeout_s=600, tick_s=0.05) as sup:  # only a 2nd signal can end it
        result = sup.run([Worker(name="stuck", log=log, until="stuck", steps=1)],
                         on_tick=interrupter(sup, "stuck", times=2))
    assert result.signal == signal.SIGINT
    assert events(log) == ["open"]  # killed in its step: it neither gave up nor closed
