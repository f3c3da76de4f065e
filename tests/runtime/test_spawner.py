"""The fork server the stages start from (streampose.runtime.spawner)."""

from __future__ import annotations

import os
import signal
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from streampose.runtime.spawner import blocked, warm


def _mask(pid: int, field: str) -> set[int]:
    """The signals in /proc/PID/status's ``field`` (SigBlk, SigIgn)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            bits = int(line.split()[1], 16)
            return {n for n in range(1, 65) if bits >> (n - 1) & 1}
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _server_pid() -> int:
    pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert isinstance(pid, int)
    return pid


def _report(out: Any) -> None:
    out.put((os.getppid(), os.environ.get("OPENBLAS_NUM_THREADS"),
             sorted(_mask(os.getpid(), "SigBlk"))))


def _fork_one(ctx: Any) -> tuple[int, str | None, list[int]]:
    """What a process forked from the server reports: its parent, BLAS threads, mask."""
    out = ctx.Queue()
    proc = ctx.Process(target=_report, args=(out,))
    proc.start()  # served once the server has imported its modules
    got = out.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    return got  # type: ignore[no-any-return]


def test_the_server_has_the_shutdown_signals_blocked_and_the_modules_loaded() -> None:
    _fork_one(warm())
    pid = _server_pid()
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= _mask(pid, "SigBlk")
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "libavcodec" in maps  # PyAV, imported once there
    assert "libopenblas" in maps or "openblas" in maps.lower()  # numpy
    assert {signal.SIGINT, signal.SIGTERM}.isdisjoint(_mask(os.getpid(), "SigBlk"))


def test_processes_fork_from_the_server_with_its_mask_and_environment() -> None:
    parent, blas, mask = _fork_one(warm())
    assert parent == _server_pid() != os.getpid()
    assert {signal.SIGINT, signal.SIGTERM} <= set(mask)  # the stage unblocks them itself
    assert blas == os.environ.get("OPENBLAS_NUM_THREADS", "1")


def test_warm_is_idempotent_and_leaves_this_process_as_it_was() -> None:
    before = dict(os.environ)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    warm()
    pid = _server_pid()
    warm()
    assert _server_pid() == pid
    assert dict(os.environ) == before
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == mask


def test_blocked_restores_the_mask() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with blocked((signal.SIGUSR1,)):
        assert signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
