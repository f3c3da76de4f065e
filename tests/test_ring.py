"""SharedRing across real spawned processes: integrity, order, policies, leases, failures."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streampose.errors import RingTimeout
from streampose.transport.ring import (
    FLAG_DROPPED_BEFORE,
    FLAG_EOS,
    FLAG_RECONNECTED,
    ItemHeader,
    SharedRing,
    run_prefix,
    sweep_stale_segments,
)
from tests.helpers import SHM, shm_segments

CTX = mp.get_context("spawn")
WAIT_S = 10.0  # generous: a failing worker must fail, not hang the suite


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    assert shm_segments() == []


@pytest.fixture
def make_ring() -> Iterator[Callable[..., SharedRing]]:
    rings: list[SharedRing] = []

    def make(**kwargs: Any) -> SharedRing:
        kwargs.setdefault("name", f"test{len(rings)}")
        rings.append(SharedRing.create(ctx=CTX, **kwargs))
        return rings[-1]

    yield make
    for ring in rings:
        ring.close()
        ring.unlink()


def _start(target: Callable[..., Any], *args: Any) -> mp.process.BaseProcess:
    proc = CTX.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def _join_ok(*procs: mp.process.BaseProcess) -> None:
    for proc in procs:
        proc.join(WAIT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        assert proc.exitcode == 0, f"{proc.name} exit code {proc.exitcode}"


# ---------------------------------------------------------------------------------------
# Payloads derived from (stream, seq), checked by CRC


def _payload(stream: int, seq: int) -> np.ndarray:
    rows = 4 + (seq % 5)
    rng = np.random.default_rng(stream * 1_000_003 + seq)
    return rng.integers(0, 256, size=(rows, 16, 3), dtype=np.uint8)


def _write_item(ring: SharedRing, slot: int, stream: int, seq: int, flags: int = 0) -> None:
    data = _payload(stream, seq)
    np.copyto(ring.array(slot, data.shape, np.uint8), data)
    header = ItemHeader(stream=stream, seq=seq, pts=zlib.crc32(data), shape=data.shape,
                        flags=flags)  # fmt: skip
    ring.publish(slot, header)


def _publish_eos(ring: SharedRing, stream: int, seq: int) -> ItemHeader | None:
    """Publish end-of-stream; return the item it evicted (drop_oldest), if any."""
    while (got := ring.acquire_write(WAIT_S)) is None:  # drop_oldest: wait for a release
        time.sleep(0.001)
    ring.publish(got[0], ItemHeader(stream=stream, seq=seq, flags=FLAG_EOS))
    return got[1]


def _produce(ring: SharedRing, stream: int, count: int) -> None:
    for seq in range(count):
        got = ring.acquire_write(WAIT_S)
        assert got is not None, "producer timed out"
        _write_item(ring, got[0], stream, seq)
    _publish_eos(ring, stream, count)


def _producer_process(ring: SharedRing, stream: int, count: int) -> None:
    _produce(ring, stream, count)
    ring.close()


def _intact(ring: SharedRing, slot: int, header: ItemHeader) -> bool:
    expected = zlib.crc32(_payload(header.stream, header.seq))
    return zlib.crc32(ring.view(slot, header)) == expected == header.pts


def _consume(ring: SharedRing, results: Any, delay: float = 0.0) -> None:
    seen: list[tuple[int, int, bool]] = []
    while True:
        got = ring.acquire_read(WAIT_S)
        if got is None:
            results.put(("timeout", seen))
            return
        slot, header = got
        if header.eos:
            ring.release(slot)
            break
        seen.append((header.stream, header.seq, _intact(ring, slot, header)))
        ring.release(slot)
        time.sleep(delay)
    results.put(("eos", seen))
    ring.close()


# ---------------------------------------------------------------------------------------
# Headers


HEADERS = [
    ItemHeader(),
    ItemHeader(
        stream=7, seq=2**40, pts=-123_456_789, time_base=Fraction(1001, 30000),
        wall=1_700_000_000.123456, width=1920, height=1080,
        flags=FLAG_EOS | FLAG_DROPPED_BEFORE | FLAG_RECONNECTED, ref=5,
        shape=(1, 3, 368, 656), dtype="float16", transform=(0.3416, 0.3407, 0.0, 4.5),
    ),
    ItemHeader(time_base=Fraction(1, 90000), shape=(46, 82, 57), dtype="float32"),
    ItemHeader(seq=3, shape=(1080, 1920, 3), flags=FLAG_DROPPED_BEFORE, ref=0),
    ItemHeader(shape=(10,), transform=(2.0, 2.0, -1.5, 3.25)),
]  # fmt: skip


@pytest.mark.parametrize("header", HEADERS, ids=range(len(HEADERS)))
def test_header_round_trip(make_ring: Callable[..., SharedRing], header: ItemHeader) -> None:
    ring = make_ring(slots=2, slot_bytes=3 * 368 * 656 * 2 * 10)
    slot, evicted = ring.acquire_write(0)
    assert evicted is None
    ring.publish(slot, header)
    got = ring.acquire_read(0)
    assert got == (slot, header)
    assert isinstance(got[1].time_base, Fraction)
    assert got[1].eos == bool(header.flags & FLAG_EOS)
    assert ring.view(slot, got[1]).shape == header.shape
    ring.release(slot)


def test_time_bases_alternate_correctly(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=4, slot_bytes=64)
    bases = [Fraction(1, 90000), Fraction(1001, 30000), Fraction(1, 90000), Fraction(1, 1000)]
    for base in bases:
        ring.publish(ring.acquire_write(0)[0], ItemHeader(time_base=base))
    for base in bases:
        slot, header = ring.acquire_read(0)
        assert header.time_base == base
        ring.release(slot)


@pytest.mark.parametrize(
    ("header", "match"),
    [(ItemHeader(shape=(1, 1, 1, 1, 1)), "dims"), (ItemHeader(dtype="int64"), "dtype")],
)
def test_publish_rejects_bad_header(
    make_ring: Callable[..., SharedRing], header: ItemHeader, match: str
) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    slot, _ = ring.acquire_write(0)
    with pytest.raises(ValueError, match=match):
        ring.publish(slot, header)
    ring.release(slot)


def test_array_is_zero_copy_and_bounded(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=1, slot_bytes=1000)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (10, 25), np.float32)[:] = 1.5
    with pytest.raises(ValueError, match="bytes"):
        ring.array(slot, (10, 26), np.float32)
    ring.publish(slot, ItemHeader(shape=(10, 25), dtype="float32"))
    slot, header = ring.acquire_read(0)
    view = ring.view(slot, header)
    assert view.dtype == np.float32 and (view == 1.5).all()
    assert not view.flags.writeable and ring.view(slot, header, writable=True).flags.writeable
    ring.release(slot)
    with pytest.raises(ValueError, match="free"):
        ring.release(slot)


@pytest.mark.parametrize(
    "kwargs",
    [{"slots": 0}, {"slot_bytes": 0}, {"policy": "fifo"}, {"lock_timeout": 0}],
)
def test_create_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    args = {"name": "bad", "slots": 2, "slot_bytes": 64, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SharedRing.create(**args)


def test_pickling_outside_spawn_is_refused(make_ring: Callable[..., SharedRing]) -> None:
    with pytest.raises(RuntimeError):
        pickle.dumps(make_ring(slots=1, slot_bytes=64))


# ---------------------------------------------------------------------------------------
# Transfer between processes


def test_thousands_of_frames_wrap_around_in_order(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=4, slot_bytes=16 * 16 * 3)
    results = CTX.Queue()
    consumer = _start(_consume, ring, results)
    _produce(ring, stream=3, count=3000)
    status, seen = results.get(timeout=WAIT_S)
    _join_ok(consumer)
    assert status == "eos"
    assert [seq for _, seq, _ in seen] == list(range(3000))
    assert all(ok for _, _, ok in seen)
    assert ring.pending() == 0


def test_many_producers_many_consumers(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=3, slot_bytes=16 * 16 * 3)
    results = CTX.Queue()
    consumers = [_start(_consume, ring, results) for _ in range(2)]
    producers = [_start(_producer_process, ring, stream, 800) for stream in (1, 2)]
    outcomes = [results.get(timeout=WAIT_S) for _ in consumers]
    _join_ok(*producers, *consumers)
    assert [status for status, _ in outcomes] == ["eos", "eos"]
    items = [item for _, seen in outcomes for item in seen]
    assert sorted((s, q) for s, q, _ in items) == [(s, q) for s in (1, 2) for q in range(800)]
    assert all(ok for _, _, ok in items)
    for _, seen in outcomes:  # FIFO: each consumer sees each stream in order
        for stream in (1, 2):
            seqs = [q for s, q, _ in seen if s == stream]
            assert seqs == sorted(seqs)


# ---------------------------------------------------------------------------------------
# Timeouts and policies


def test_acquire_timeouts_return_none_promptly(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    for wait in (0.0, 0.2):
        start = time.monotonic()
        assert ring.acquire_read(wait) is None
        assert wait <= time.monotonic() - start + 0.01 < wait + 5  # honoured, not hung
    slot, _ = ring.acquire_write(0)
    for wait in (0.0, 0.2):
        start = time.monotonic()
        assert ring.acquire_write(wait) is None
        assert wait <= time.monotonic() - start + 0.01 < wait + 5
    ring.release(slot)


def _fill(ring: SharedRing, stream: int, seqs: range, flags: int = 0) -> None:
    for seq in seqs:
        slot, evicted = ring.acquire_write(0)
        assert evicted is None
        _write_item(ring, slot, stream, seq, flags)


def test_drop_oldest_evicts_the_oldest_unread(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=3, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    _fill(ring, 0, range(3))
    for seq in (3, 4):
        slot, evicted = ring.acquire_write(0)
        assert evicted is not None and evicted.seq == seq - 3
        _write_item(ring, slot, 0, seq)
    assert ring.evicted_count == 2 and ring.pending() == 3
    order = []
    while (got := ring.acquire_read(0)) is not None:
        order.append(got[1].seq)
        ring.release(got[0])
    assert order == [2, 3, 4]


def test_drop_oldest_returns_none_when_all_slots_leased(
    make_ring: Callable[..., SharedRing],
) -> None:
    ring = make_ring(slots=2, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    _fill(ring, 0, range(2))
    leased = [ring.acquire_read(0)[0], ring.acquire_read(0)[0]]
    start = time.monotonic()
    assert ring.acquire_write(30.0) is None
    assert time.monotonic() - start < 10  # at once, not after the 30 s timeout
    assert ring.evicted_count == 0
    ring.release(leased[0])
    assert ring.acquire_write(0) == (leased[0], None)
    ring.release(leased[0])
    ring.release(leased[1])


def test_drop_oldest_never_evicts_end_of_stream(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=3, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    _fill(ring, 1, range(1), FLAG_EOS)  # stream 1 ended; stream 0 keeps going
    _fill(ring, 0, range(2))
    slot, evicted = ring.acquire_write(0)
    assert (evicted.stream, evicted.seq) == (0, 0)
    _write_item(ring, slot, 0, 2)
    order = []
    while (got := ring.acquire_read(0)) is not None:
        order.append((got[1].stream, got[1].seq, got[1].eos))
        ring.release(got[0])
    assert order == [(1, 0, True), (0, 1, False), (0, 2, False)]
    _fill(ring, 1, range(3), FLAG_EOS)
    assert ring.acquire_write(0) is None  # only end-of-stream items: nothing to evict
    assert ring.evicted_count == 1


def _produce_dropping(ring: SharedRing, count: int, results: Any) -> None:
    evicted: list[int] = []
    refused: list[int] = []
    for seq in range(count):
        got = ring.acquire_write(0)
        if got is None:
            refused.append(seq)
            continue
        if got[1] is not None:
            evicted.append(got[1].seq)
        _write_item(ring, got[0], 0, seq)
    if (last := _publish_eos(ring, 0, count)) is not None:
        evicted.append(last.seq)
    results.put((evicted, refused))
    ring.close()


def test_drop_oldest_counts_match_across_processes(
    make_ring: Callable[..., SharedRing],
) -> None:
    ring = make_ring(slots=4, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    consumed_q, produced_q = CTX.Queue(), CTX.Queue()
    consumer = _start(_consume, ring, consumed_q, 0.002)  # slower than the producer
    producer = _start(_produce_dropping, ring, 600, produced_q)
    status, seen = consumed_q.get(timeout=WAIT_S)
    evicted, refused = produced_q.get(timeout=WAIT_S)
    _join_ok(producer, consumer)
    assert status == "eos" and all(ok for _, _, ok in seen)
    consumed = [seq for _, seq, _ in seen]
    assert consumed == sorted(consumed)
    assert len(evicted) == ring.evicted_count > 0
    assert sorted(consumed + evicted + refused) == list(range(600))


# ---------------------------------------------------------------------------------------
# Leases and failures


def _read_and_keep(ring: SharedRing, results: Any) -> None:
    slot, header = ring.acquire_read(WAIT_S)
    results.put((slot, header.seq, _intact(ring, slot, header)))
    ring.close()  # exits holding the lease


def _release(ring: SharedRing, slot: int) -> None:
    ring.release(slot)
    ring.close()


def test_release_from_a_third_process(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=1, slot_bytes=16 * 16 * 3)
    _fill(ring, 0, range(1))
    results = CTX.Queue()
    reader = _start(_read_and_keep, ring, results)
    slot, seq, ok = results.get(timeout=WAIT_S)
    _join_ok(reader)
    assert (seq, ok) == (0, True)
    assert ring.acquire_write(0.05) is None  # still leased
    _join_ok(_start(_release, ring, slot))
    assert ring.acquire_write(WAIT_S) == (slot, None)
    ring.release(slot)


def _lease_and_hang(ring: SharedRing, leased: Any) -> None:
    for _ in range(ring.slots):
        assert ring.acquire_read(WAIT_S) is not None
    leased.set()
    time.sleep(60)


def test_killed_consumer_does_not_hang_producer(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=2, slot_bytes=16 * 16 * 3)
    leased = CTX.Event()
    consumer = _start(_lease_and_hang, ring, leased)
    _fill(ring, 0, range(2))
    assert leased.wait(WAIT_S)
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join(WAIT_S)
    assert consumer.exitcode == -signal.SIGKILL
    start = time.monotonic()
    assert ring.acquire_write(0.3) is None
    assert time.monotonic() - start < 10  # not hung on the dead consumer's leases
    ring.close()
    ring.unlink()
    assert shm_segments() == []


def _take_lock_and_hang(ring: SharedRing, locked: Any) -> None:
    ring._lock.acquire()
    locked.set()
    time.sleep(60)


def test_lock_held_by_dead_peer_raises_ring_timeout(
    make_ring: Callable[..., SharedRing],
) -> None:
    ring = make_ring(slots=2, slot_bytes=64, lock_timeout=0.3)
    locked = CTX.Event()
    peer = _start(_take_lock_and_hang, ring, locked)
    assert locked.wait(WAIT_S)
    os.kill(peer.pid, signal.SIGKILL)
    peer.join(WAIT_S)
    start = time.monotonic()
    with pytest.raises(RingTimeout):
        ring.acquire_write(30.0)
    assert time.monotonic() - start < 10  # after the 0.3 s lock timeout, not the 30 s wait
    assert ring._free_sem.get_value() == 2  # the semaphore taken before the lock went back
    assert isinstance(RingTimeout("x"), TimeoutError)


# ---------------------------------------------------------------------------------------
# Segment ownership


def test_names_carry_the_run_prefix(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(name="frames", slots=1, slot_bytes=64)
    assert ring.name == f"{run_prefix()}-frames"
    assert run_prefix() == run_prefix() and run_prefix().startswith(f"sp-{os.getpid()}-")
    assert shm_segments() == [ring.name]


def test_sweep_removes_dead_runs_and_keeps_ours(make_ring: Callable[..., SharedRing]) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = SHM / f"sp-{dead.pid}-deadbeef-frames"
    foreign = SHM / f"sp-{dead.pid}-not-a-run-prefix"  # someone else's naming: left alone
    for path in (stale, foreign):
        path.write_bytes(b"x")
    try:
        assert sweep_stale_segments() == [stale.name]
        assert not stale.exists() and foreign.exists()
        assert (SHM / ring.name).exists()
    finally:
        stale.unlink(missing_ok=True)
        foreign.unlink(missing_ok=True)


def test_attach_does_not_register_with_resource_tracker(
    make_ring: Callable[..., SharedRing], monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(resource_tracker, "register", lambda *args: calls.append(args))
    twin = SharedRing.__new__(SharedRing)
    twin.__setstate__(ring.__getstate__())  # what unpickling does in a spawned child
    twin.close()
    assert calls == []


SCRIPT = textwrap.dedent(
    """
    import multiprocessing as mp, os
    from pathlib import Path
    import test_ring
    from streampose.transport.ring import SharedRing

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        ring = SharedRing.create(name="tracked", slots=4, slot_bytes=768, ctx=ctx)
        test_ring._fill(ring, 0, range(4))
        children = [ctx.Process(target=test_ring._attach_read_exit, args=(ring,))
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


def _attach_read_exit(ring: SharedRing) -> None:
    slot, header = ring.acquire_read(WAIT_S)
    assert _intact(ring, slot, header)
    ring.release(slot)
    try:
        ring.unlink()
    except RuntimeError:
        pass
    else:
        raise AssertionError("a child was allowed to unlink")
    ring.close()


def test_child_attach_leaves_resource_tracker_quiet() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no "leaked shared_memory" warning, no tracker KeyError
    assert shm_segments(int(proc.stdout)) == []
