"""The stage runner: one stage, one process, a strict open/step/close life cycle.

A stage is a picklable object built in the supervisor with plain arguments; everything
heavy (the model, codecs, ring attachments) is made in ``open()``, inside its own process.
``step()`` does one bounded unit of work (every wait inside it has a timeout) and returns
False when the stage has finished. ``close()`` always runs if ``open()`` succeeded. An
exception is sent to the supervisor with its traceback; the process exits non-zero.

Signals: a stage ignores SIGINT and SIGTERM (:data:`SHUTDOWN_SIGNALS`): a Ctrl-C in a
terminal, ``systemctl stop`` or ``docker stop`` signal the whole process group, and the
supervisor alone decides what follows (drain, then stop). Stages start with those
signals blocked (they fork from a server that has them blocked: runtime/spawner.py), so a
signal to the group while a stage is still starting cannot kill it either. A stage whose
supervisor died ends on its own (``stopping()`` checks at every wait that its parent, the
fork server, which ends with the supervisor, is still the one it started with), closes
its outputs and removes what the dead run left in /dev/shm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from streampose.runtime.channels import ChannelSpec, StageChannels, Wiring
from streampose.runtime.control import ErrorReport, StageControl, StageReport
from streampose.runtime.threads import ThreadBudget, apply_opencv_threads
from streampose.transport.ring import SharedRing
from streampose.transport.shm import sweep_stale_segments

log = logging.getLogger(__name__)

POLL_S = 0.1  # how long any wait lasts before re-checking the stop event and the parent
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # the supervisor's alone


class Stage:
    """Base class: subclasses implement ``step`` and may override ``open``/``close``.

    A stage that takes part in a :class:`~streampose.runtime.topology.Topology` also
    implements the class methods :meth:`outputs` (the channels it writes, sized by
    :mod:`streampose.planning.capacity`, named through the declared channels) and
    :meth:`build` (the stage object, from the run plan and its wiring: its declared
    channels and the run's shared state).
    """

    name = "stage"
    kind = "stage"  # its step's name in a topology

    @classmethod
    def outputs(cls, plan: Any, channels: StageChannels, index: int) -> Sequence[ChannelSpec]:
        """The channels this stage writes (``index``: its stream or worker number), each
        named by ``channels.name``."""
        return ()

    @classmethod
    def build(cls, plan: Any, wiring: Wiring[Any], index: int) -> Stage:
        """The stage object for ``plan``, connected to ``wiring.channels``."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a topology")

    def __init__(self) -> None:
        self.items = 0
        self.busy_s = 0.0
        self.cpu_s = 0.0  # process CPU time while running (set by the runner)
        self.control: StageControl | None = None
        self.threads: ThreadBudget | None = None  # set from the run's thread plan

    def open(self) -> None:
        """Acquire resources (runs in the stage's process)."""

    def step(self) -> bool:
        """One bounded unit of work; False when finished."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources; runs whenever ``open`` succeeded."""

    def extra_report(self) -> dict[str, Any]:
        return {}

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Count the time spent inside the block as busy (work, not waiting)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.busy_s += time.perf_counter() - start

    def write_slot(self, ring: SharedRing) -> int | None:
        """A slot of ``ring`` to write, waiting in POLL_S steps; None once stopping."""
        while not self.stopping():
            got = ring.acquire_write(POLL_S)
            if got is not None:
                return got[0]
        return None

    def stopping(self) -> bool:
        """True when the supervisor asked for a hard stop or has gone away."""
        control = self.control
        return control is not None and (control.stop.is_set() or orphaned(control))


_started_by: int | None = None  # this stage process's parent pid when it started


def orphaned(control: StageControl) -> bool:
    """The supervisor that started this process has died: the process that forked it
    (the supervisor's fork server, which exits with it) is no longer its parent, or the
    supervisor's pid is gone."""
    if _started_by is not None and os.getppid() != _started_by:
        return True
    return not _alive(control.parent_pid)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def stage_main(stage: Stage, control: StageControl) -> None:
    """Process entry point: run ``stage`` to completion, report, exit 0 or 1."""
    global _started_by
    _started_by = os.getppid()
    for sig in SHUTDOWN_SIGNALS:  # the supervisor owns them, even sent to the whole group
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent's: re-read the cameras file
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SHUTDOWN_SIGNALS)  # blocked while spawning
    logging.basicConfig(level=control.log_level,
                        format=f"%(asctime)s {stage.name}[%(process)d] %(levelname)s %(message)s")
    stage.control = control
    start = time.perf_counter()
    try:
        code = _run(stage, control)
    finally:
        _detach_rings(stage)
    if orphaned(control):  # nobody reads reports; clear what the dead run left in /dev/shm
        log.info("%s: the supervisor died; outputs closed", stage.name)
        sweep_stale_segments()
    else:
        report = StageReport(stage.name, os.getpid(), stage.items, stage.busy_s,
                             time.perf_counter() - start, stage.extra_report(), stage.cpu_s)
        control.reports.put(report)
    sys.exit(code)


def _run(stage: Stage, control: StageControl) -> int:
    try:
        apply_opencv_threads(stage.threads)
        stage.open()
    except BaseException as exc:
        _send_error(stage, control, exc)
        return 1
    if control.opened is not None:
        with control.opened.get_lock():
            control.opened.value += 1
    code = 0
    live = _LiveStats(stage, control.stats)
    cpu = time.process_time()
    try:
        while not stage.stopping() and stage.step():
            live.publish()
    except BaseException as exc:
        _send_error(stage, control, exc)
        code = 1
    finally:
        live.publish(force=True)
        code = _close(stage, control, code)
        stage.cpu_s = time.process_time() - cpu
    return code


class _LiveStats:
    """Publishes a stage's items and busy time to shared memory, at most every 0.2 s."""

    def __init__(self, stage: Stage, stats: Any) -> None:
        self.stage, self.stats = stage, stats
        self.items, self.busy_s, self.next = 0, 0.0, 0.0

    def publish(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.stats is None or (now < self.next and not force):
            return
        self.next = now + 0.2
        stage = self.stage
        self.stats.add(stage.name, items=stage.items - self.items,
                       busy_s=stage.busy_s - self.busy_s)
        self.items, self.busy_s = stage.items, stage.busy_s


def _detach_rings(stage: Stage) -> None:
    """Close every ring the stage holds: they attach when unpickled, before ``open()``."""
    for value in vars(stage).values():
        rings = value if isinstance(value, list) else [value]
        for ring in rings:
            if isinstance(ring, SharedRing):
                ring.close()


def _close(stage: Stage, control: StageControl, code: int) -> int:
    try:
        stage.close()
    except BaseException as exc:
        _send_error(stage, control, exc)
        return 1
    return code


def _send_error(stage: Stage, control: StageControl, exc: BaseException) -> None:
    report = ErrorReport(stage.name, type(exc).__name__, str(exc) or type(exc).__name__,
                         traceback.format_exc(), getattr(exc, "exit_code", 6))
    with contextlib.suppress(Exception):
        control.errors.put(report, timeout=1.0)
