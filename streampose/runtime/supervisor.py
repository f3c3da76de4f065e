"""The supervisor: owns the rings, starts each stage in its own process, watches them,
and carries out the shutdown protocol.

Protocol (ARCHITECTURE.md, "Shutdown protocol"):
- normal end: sources publish end-of-stream, every stage flushes and exits 0;
- first SIGINT/SIGTERM, to this process or to its whole process group (stages ignore
  both): ``stop_sources`` is set (sources end their streams), in-flight frames drain for
  at most ``drain_timeout_s``, then a hard stop; the run reports the signal so the
  caller exits 130/143;
- second signal, a stage error or a stage that dies: hard stop (``stop`` event), every
  stage leaves its loop and closes its outputs; a stage still running ``JOIN_TIMEOUT_S``
  later is killed;
- always: every ring is unlinked and the run's semaphores are named after it, so
  /dev/shm holds nothing of this run afterwards, and a start sweeps what killed runs left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streampose.errors import StageError, remote_error
from streampose.observe.stats import StageStats
from streampose.runtime.control import ErrorReport, StageControl, StageReport
from streampose.runtime.spawner import warm
from streampose.runtime.stage import SHUTDOWN_SIGNALS, Stage, stage_main
from streampose.transport.codec import HeaderCodec
from streampose.transport.ring import SharedRing
from streampose.transport.shm import own_run_resources, sweep_stale_segments

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0  # after a hard stop, how long stages get to close before a kill


@dataclass
class RunResult:
    reports: list[StageReport] = field(default_factory=list)
    signal: int | None = None
    wall_s: float = 0.0


class Supervisor:
    """Creates rings, runs stages, and guarantees cleanup. Use as a context manager."""

    def __init__(self, *, log_level: int = logging.WARNING, drain_timeout_s: float = 10.0,
                 tick_s: float = 0.5) -> None:
        removed = sweep_stale_segments()
        if removed:
            log.info("removed %d shared-memory entries left by dead runs", len(removed))
        own_run_resources()  # before the first semaphore: they are named after the run
        self.ctx = warm()  # stages fork from a preloaded server (runtime/spawner.py)
        self.stop = self.ctx.Event()
        self.stop_sources = self.ctx.Event()
        self._errors = self.ctx.Queue()
        self._reports = self.ctx.Queue()
        self._rings: list[SharedRing] = []
        self._procs: list[tuple[Stage, Any]] = []
        self._signals: list[int] = []
        self._log_level = log_level
        self._drain_timeout_s = drain_timeout_s
        self._tick_s = tick_s
        self.stage_stats: StageStats | None = None
        self._deadline: float | None = None
        self._restore_signals: Callable[[], None] | None = None

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def ring(self, *, name: str, slots: int, slot_bytes: int, codec: HeaderCodec,
             policy: str = "block") -> SharedRing:
        """Create a ring that this supervisor unlinks at shutdown."""
        ring = SharedRing.create(name=name, slots=slots, slot_bytes=slot_bytes, codec=codec,
                                 policy=policy, ctx=self.ctx)
        self._rings.append(ring)
        return ring

    def run(self, stages: list[Stage], on_tick: Callable[[float], None] | None = None,
            duration_s: float | None = None) -> RunResult:
        """Start ``stages`` and wait until all end; raises on a failure: a stage's output
        or source error as itself, anything else as StageError (``remote_error``).

        ``duration_s``: after that long the sources stop and the frames in flight drain,
        like a first Ctrl-C but a normal end (no signal reported).
        """
        self._deadline = None if duration_s is None else time.monotonic() + duration_s
        self.stage_stats = StageStats(stages=[s.name for s in stages], ctx=self.ctx)
        control = StageControl(self.stop, self.stop_sources, self._errors, self._reports,
                               os.getpid(), self._log_level, self.stage_stats,
                               self.ctx.Value("i", 0), len(stages))
        start = time.perf_counter()
        self._catch_signals()
        for stage in stages:
            proc = self.ctx.Process(target=stage_main, args=(stage, control),
                                    name=f"streampose-{stage.name}", daemon=True)
            proc.start()  # with the shutdown signals blocked, as the fork server has them
            log.info("stage %s started, pid %d", stage.name, proc.pid)
            self._procs.append((stage, proc))
        self._watch(on_tick)
        result = RunResult(self._collect_reports(), self._first_signal(),
                           time.perf_counter() - start)
        return result

    # -- watching ----------------------------------------------------------------------

    def _watch(self, on_tick: Callable[[float], None] | None) -> None:
        drain_deadline: float | None = None
        stop_deadline: float | None = None
        next_tick = 0.0
        while True:
            self._raise_stage_error()
            if all(proc.exitcode is not None for _, proc in self._procs):
                self._raise_stage_error(wait_s=0.5)
                self._check_deaths()  # the last stages may have died, not finished
                return
            self._check_deaths()
            drain_deadline = self._handle_signals(drain_deadline)
            if self.stop.is_set():  # stages get JOIN_TIMEOUT_S to close; shutdown kills
                stop_deadline = stop_deadline or time.monotonic() + JOIN_TIMEOUT_S
                if time.monotonic() > stop_deadline:
                    return
            if self._deadline is not None and time.monotonic() >= self._deadline:
                log.info("duration reached: stopping the sources")
                self._deadline = None
                self.stop_sources.set()
                drain_deadline = time.monotonic() + self._drain_timeout_s
            now = time.monotonic()
            if on_tick is not None and now >= next_tick:
                on_tick(now)
                next_tick = now + self._tick_s
            time.sleep(0.05)

    def _raise_stage_error(self, wait_s: float = 0.0) -> None:
        try:
            report: ErrorReport = self._errors.get(timeout=wait_s) if wait_s else \
                self._errors.get_nowait()
        except queue.Empty:
            return
        log.debug("traceback from stage %s:\n%s", report.stage, report.traceback)
        self.stop.set()
        raise remote_error(report.stage, report.kind, report.message, report.exit_code,
                           report.traceback)

    def _check_deaths(self) -> None:
        for stage, proc in self._procs:
            if proc.exitcode not in (None, 0):
                self._raise_stage_error(wait_s=0.5)  # an error report may be on its way
                self.stop.set()
                how = (f"killed by signal {-proc.exitcode}" if proc.exitcode < 0
                       else f"exit code {proc.exitcode}")
                raise StageError(stage.name, f"the process died ({how})")

    def _handle_signals(self, drain_deadline: float | None) -> float | None:
        if len(self._signals) >= 2 and not self.stop.is_set():
            log.warning("second interrupt: stopping now")
            self.stop.set()
        elif self._signals and drain_deadline is None:
            log.warning("interrupted: finishing the frames in flight (Ctrl-C again to stop now)")
            self.stop_sources.set()
            return time.monotonic() + self._drain_timeout_s
        if drain_deadline is not None and time.monotonic() > drain_deadline:
            if not self.stop.is_set():
                log.warning("drain took longer than %.0f s: stopping now", self._drain_timeout_s)
            self.stop.set()
        return drain_deadline

    @property
    def pids(self) -> dict[str, int]:
        """Stage name -> process id of the stages started so far."""
        return {stage.name: proc.pid for stage, proc in self._procs}

    def exited(self) -> set[str]:
        """Names of the stages whose process has ended (finished, failed or killed)."""
        return {stage.name for stage, proc in self._procs if proc.exitcode is not None}

    def _first_signal(self) -> int | None:
        return self._signals[0] if self._signals else None

    def _catch_signals(self) -> None:
        """Record SIGINT/SIGTERM (``_handle_signals`` acts on them) until ``shutdown()``
        has reaped every stage; only the main thread can set handlers."""
        if threading.current_thread() is not threading.main_thread() or \
                self._restore_signals is not None:
            return
        previous = {s: signal.getsignal(s) for s in SHUTDOWN_SIGNALS}
        for sig in previous:
            signal.signal(sig, lambda signum, _frame: self._signals.append(signum))

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        self._restore_signals = restore

    # -- cleanup -----------------------------------------------------------------------

    def _collect_reports(self) -> list[StageReport]:
        reports: list[StageReport] = []
        deadline = time.monotonic() + 2.0
        while len(reports) < len(self._procs) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                reports.append(self._reports.get(timeout=0.1))
        return reports

    def shutdown(self) -> None:
        """Stop every stage, reap the processes, unlink every ring (idempotent)."""
        self.stop_stages()
        for ring in self._rings:
            ring.close()
            ring.unlink()
        self._rings.clear()
        for q in (self._errors, self._reports):
            q.cancel_join_thread()
            q.close()
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None

    def stop_stages(self) -> None:
        """Hard-stop every stage and reap the processes (idempotent); the rings stay."""
        self.stop.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for _, proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for stage, proc in self._procs:
            if proc.is_alive():  # stages ignore SIGTERM: only a kill ends a stuck one
                log.warning("stage %s did not stop in time: killing it", stage.name)
                proc.kill()
                proc.join(JOIN_TIMEOUT_S)
