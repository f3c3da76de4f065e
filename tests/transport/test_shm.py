"""Shared-memory segments: the run prefix, sweeping dead runs, attaching untracked."""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from multiprocessing import resource_tracker
from pathlib import Path

import numpy as np
import pytest

from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing
from streampose.transport.shm import (
    attach_untracked,
    own_run_resources,
    run_prefix,
    sweep_stale_segments,
)

SHM = Path("/dev/shm")
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 10.0

MakeRing = Callable[..., SharedRing]


def _ours(pid: int | None = None) -> list[str]:
    prefix = f"sp-{os.getpid() if pid is None else pid}-"
    return sorted(p.name for p in SHM.iterdir() if p.name.startswith(prefix))


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    assert _ours() == []


def test_names_carry_the_run_prefix(make_ring: MakeRing) -> None:
    ring = make_ring(name="frames", slots=1, slot_bytes=64)
    assert ring.name == f"{run_prefix()}-frames"
    assert run_prefix() == run_prefix() and run_prefix().startswith(f"sp-{os.getpid()}-")
    assert _ours() == [ring.name]


def test_sweep_removes_dead_runs_and_keeps_ours(make_ring: MakeRing, tmp_path: Path) -> None:
    """The dead run's entries are planted in a folder of this test's own: in /dev/shm,
    any run started meanwhile (another xdist worker's) would sweep them first."""
    ring = make_ring(slots=1, slot_bytes=64)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f"sem.sp-{dead.pid}-deadbeef-sem-a1b2_c3d",
             tmp_path / f"sp-{dead.pid}-deadbeef-frames"]
    alive = tmp_path / f"sem.sp-{os.getpid()}-deadbeef-sem-x"  # a live run's semaphore: kept
    foreign = [tmp_path / f"sp-{dead.pid}-not-a-run-prefix",  # someone else's naming: kept
               tmp_path / f"sem.mp-{dead.pid}-deadbeef"]
    ours = tmp_path / ring.name  # a live run's segment: kept
    for path in (*stale, alive, *foreign, ours):
        path.write_bytes(b"x")
    assert sweep_stale_segments(str(tmp_path)) == [p.name for p in stale]
    assert not any(p.exists() for p in stale)
    assert alive.exists() and ours.exists() and all(p.exists() for p in foreign)
    assert ring.name not in sweep_stale_segments()  # and the real /dev/shm: ours is kept
    assert (SHM / ring.name).exists()


def test_sweep_of_a_missing_folder_removes_nothing(tmp_path: Path) -> None:
    assert sweep_stale_segments(str(tmp_path / "absent")) == []


def test_attach_does_not_register_with_resource_tracker(
    make_ring: MakeRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(resource_tracker, "register", lambda *args: calls.append(args))
    twin = SharedRing.__new__(SharedRing)
    twin.__setstate__(ring.__getstate__())  # what unpickling does in a spawned child
    twin.close()
    shm = attach_untracked(ring.name)
    shm.close()
    assert calls == []


SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os
    from pathlib import Path
    from streampose.transport.messages import FRAME_CODEC
    from streampose.transport.ring import SharedRing
    from tests.transport import test_shm

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        ring = SharedRing.create(name="tracked", slots=4, slot_bytes=768, codec=FRAME_CODEC,
                                 ctx=ctx)
        test_shm._fill(ring, 4)
        children = [ctx.Process(target=test_shm._attach_read_exit, args=(ring,))
                    for _ in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join(10)
            assert child.exitcode == 0, child.exitcode
        assert Path("/dev/shm", ring.name).exists(), "segment vanished while owner alive"
        assert ring.pending() == 0
        ring.close()
        ring.unlink()
        print(os.getpid())
    """
)


def _fill(ring: SharedRing, count: int) -> None:
    """``count`` items; item ``seq``'s payload is 16 x 16 x 3 bytes of value ``seq``."""
    for seq in range(count):
        slot, _ = ring.acquire_write(0)
        ring.array(slot, (16, 16, 3), np.uint8)[...] = seq
        ring.publish(slot, FrameHeader(seq=seq, shape=(16, 16, 3)))


def _attach_read_exit(ring: SharedRing) -> None:
    slot, header = ring.acquire_read(WAIT_S)
    assert (ring.view(slot, header.shape, header.dtype) == header.seq).all()
    ring.release(slot)
    try:
        ring.unlink()
    except RuntimeError:
        pass
    else:
        raise AssertionError("a child was allowed to unlink")
    ring.close()


def test_child_attach_leaves_resource_tracker_quiet() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no "leaked shared_memory" warning, no tracker KeyError
    assert _ours(int(proc.stdout)) == []


def test_run_prefix_is_new_in_a_child_process() -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        child = pool.apply(run_prefix)
    assert child != run_prefix() and not child.startswith(f"sp-{os.getpid()}-")


KILLED_RUN = textwrap.dedent(
    """
    import multiprocessing as mp, os, signal, sys
    from streampose.transport.messages import FRAME_CODEC
    from streampose.transport.ring import SharedRing
    from streampose.transport.shm import own_run_resources

    if __name__ == "__main__":
        own_run_resources()
        ctx = mp.get_context("spawn")
        ring = SharedRing.create(name="frames", slots=2, slot_bytes=64, codec=FRAME_CODEC,
                                 ctx=ctx)
        queue, event = ctx.Queue(), ctx.Event()
        print(os.getpid(), event._cond._lock._semlock.name, flush=True)
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        ring.close()
        ring.unlink()
    """
)


@pytest.fixture
def aside() -> Iterator[Path]:
    """A folder of the test's own in /dev/shm (a sweep looks at the top level only)."""
    folder = Path(tempfile.mkdtemp(dir=SHM, prefix="test-shm-"))
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("end", ["kill", "exit"])
def test_a_run_names_its_semaphores_and_a_sweep_finds_them(end: str, aside: Path) -> None:
    """A run's semaphores (ring counters, queue and event locks) carry its prefix: a
    killed run's are swept like its segments; an orderly end leaves nothing. The resource
    tracker never hears of them, so it has nothing to warn about."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, end], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = _output_unreaped(proc)
        pid, semaphore = stdout.split()
        # Not reaped yet, the run counts as alive: no sweep (another xdist worker's run
        # starting) may take what it left before it is moved to this test's own folder.
        left = sorted(p.name for p in SHM.iterdir() if p.name.startswith(
            (f"sp-{pid}-", f"sem.sp-{pid}-")))
        for name in left:
            (SHM / name).rename(aside / name)
    finally:
        proc.kill()
        returncode = proc.wait(timeout=60)
    assert returncode == (-9 if end == "kill" else 0), stderr
    assert stderr == ""  # no "leaked semaphore" warning
    assert semaphore.startswith(f"/sp-{pid}-") and "-sem-" in semaphore
    if end == "kill":
        assert f"sem.{semaphore[1:]}" in left and f"sp-{pid}-" in " ".join(left)
        assert len([n for n in left if n.startswith("sem.")]) >= 3 + 3  # ring, queue...
    else:
        assert left == []
    assert set(sweep_stale_segments(str(aside))) >= set(left)
    assert not any((aside / name).exists() or (SHM / name).exists() for name in left)


def _output_unreaped(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """``proc``'s whole stdout and stderr (until every process holding them, the resource
    tracker too, has ended), then wait until it has exited, without reaping it."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        out, err = (pool.submit(pipe.read) for pipe in (proc.stdout, proc.stderr))
        try:
            stdout, stderr = out.result(timeout=60), err.result(timeout=60)
        except concurrent.futures.TimeoutError:
            proc.kill()
            raise
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    return stdout, stderr



def test_own_run_resources_keeps_only_run_names_from_the_tracker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, str]] = []
    tracker = resource_tracker._resource_tracker
    monkeypatch.setattr(tracker, "_send", lambda *args: sent.append(args))
    monkeypatch.setattr(resource_tracker, "register", tracker.register)
    monkeypatch.setattr(resource_tracker, "unregister", tracker.unregister)
    own_run_resources()
    own_run_resources()  # idempotent: one filter
    lock = mp.get_context("spawn").Lock()
    name = lock._semlock.name
    assert name.startswith(f"/{run_prefix()}-sem-")
    resource_tracker.register("/mp-someone-else", "semaphore")
    resource_tracker.unregister("/mp-someone-else", "semaphore")
    del lock  # its finalizer unlinks it and unregisters: not sent either
    assert sent == [("REGISTER", "/mp-someone-else", "semaphore"),
                    ("UNREGISTER", "/mp-someone-else", "semaphore")]
    assert not (SHM / f"sem.{name[1:]}").exists()
