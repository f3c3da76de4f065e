"""SharedRing across real spawned processes: integrity, order, policies, pins, leases, failures.

The ring carries opaque headers; these tests use the stages' frame codec
(:data:`~streampose.transport.messages.FRAME_CODEC`) and one tiny codec of their own.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from streampose.errors import RingTimeout
from streampose.transport.messages import FLAG_EOS, FRAME_CODEC, FrameHeader, FrameRef
from streampose.transport.ring import SharedRing
from tests.support.shm import shm_segments

CTX = mp.get_context("spawn")
WAIT_S = 10.0  # generous: a failing worker must fail, not hang the suite

MakeRing = Callable[..., SharedRing]



@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    assert shm_segments() == []


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


def _write_item(ring: SharedRing, slot: int, stream: int, seq: int, *,
                pinned: bool = False) -> None:
    data = _payload(stream, seq)
    np.copyto(ring.array(slot, data.shape, np.uint8), data)
    flags = FLAG_EOS if pinned else 0
    header = FrameHeader(stream=stream, seq=seq, pts=zlib.crc32(data), shape=data.shape,
                         flags=flags)  # fmt: skip
    ring.publish(slot, header, pinned=pinned)


def _publish_eos(ring: SharedRing, stream: int, seq: int) -> FrameHeader | None:
    """Publish end-of-stream (pinned); return the item it evicted (drop_oldest), if any."""
    while (got := ring.acquire_write(WAIT_S)) is None:  # drop_oldest: wait for a release
        time.sleep(0.001)
    ring.publish(got[0], FrameHeader(stream=stream, seq=seq, flags=FLAG_EOS), pinned=True)
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


def _intact(ring: SharedRing, slot: int, header: FrameHeader) -> bool:
    expected = zlib.crc32(_payload(header.stream, header.seq))
    return zlib.crc32(ring.view(slot, header.shape, header.dtype)) == expected == header.pts


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
# Headers and payload views


def test_header_travels_through_a_slot(make_ring: MakeRing) -> None:
    ring = make_ring(slots=2, slot_bytes=3 * 368 * 656 * 2 * 10)
    header = FrameHeader(stream=7, seq=2**40, time_base=Fraction(1001, 30000),
                         frame=FrameRef(2, 5), shape=(1, 3, 368, 656), dtype="float16")
    slot, evicted = ring.acquire_write(0)
    assert evicted is None
    ring.publish(slot, header)
    got = ring.acquire_read(0)
    assert got == (slot, header)
    assert ring.view(slot, got[1].shape, got[1].dtype).shape == header.shape
    ring.release(slot)


class _TickCodec:
    """A header of two int32 (tick, value): the ring works with any codec."""

    _STRUCT = struct.Struct("<ii")
    size = _STRUCT.size

    def pack_into(self, buf: memoryview, offset: int, header: tuple[int, int]) -> None:
        self._STRUCT.pack_into(buf, offset, *header)

    def unpack_from(self, buf: memoryview, offset: int) -> tuple[int, int]:
        return self._STRUCT.unpack_from(buf, offset)


def test_ring_takes_any_header_codec(make_ring: MakeRing) -> None:
    ring = make_ring(slots=3, slot_bytes=8, codec=_TickCodec())
    for tick in range(3):
        ring.publish(ring.acquire_write(0)[0], (tick, -tick))
    assert [ring.acquire_read(0)[1] for _ in range(3)] == [(0, 0), (1, -1), (2, -2)]
    assert ring.codec.size == 8


def test_a_header_the_codec_refuses_leaves_the_slot_releasable(make_ring: MakeRing) -> None:
    ring = make_ring(slots=1, slot_bytes=64)
    slot, _ = ring.acquire_write(0)
    with pytest.raises(ValueError, match="dims"):
        ring.publish(slot, FrameHeader(shape=(1, 1, 1, 1, 1)))
    ring.release(slot)
    assert ring.pending() == 0 and ring.acquire_write(0) == (slot, None)
    ring.release(slot)


def test_array_is_zero_copy_and_bounded(make_ring: MakeRing) -> None:
    ring = make_ring(slots=1, slot_bytes=1000)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (10, 25), np.float32)[:] = 1.5
    with pytest.raises(ValueError, match="bytes"):
        ring.array(slot, (10, 26), np.float32)
    ring.publish(slot, FrameHeader(shape=(10, 25), dtype="float32"))
    slot, header = ring.acquire_read(0)
    view = ring.view(slot, header.shape, header.dtype)
    assert view.dtype == np.float32 and (view == 1.5).all()
    writable = ring.view(slot, header.shape, header.dtype, writable=True)
    assert not view.flags.writeable and writable.flags.writeable
    ring.release(slot)
    with pytest.raises(ValueError, match="free"):
        ring.release(slot)


def test_slot_numbers_are_checked(make_ring: MakeRing) -> None:
    ring = make_ring(slots=2, slot_bytes=64)
    for call in (lambda: ring.array(2, (1,), np.uint8), lambda: ring.release(-1),
                 lambda: ring.publish(2, FrameHeader())):
        with pytest.raises(ValueError, match=r"out of range 0\.\.1"):
            call()


@pytest.mark.parametrize(
    "kwargs",
    [{"slots": 0}, {"slot_bytes": 0}, {"policy": "fifo"}, {"lock_timeout": 0}],
)
def test_create_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    args = {"name": "bad", "slots": 2, "slot_bytes": 64, "codec": FRAME_CODEC, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SharedRing.create(**args)


def test_pickling_outside_spawn_is_refused(make_ring: MakeRing) -> None:
    with pytest.raises(RuntimeError):
        pickle.dumps(make_ring(slots=1, slot_bytes=64))


# ---------------------------------------------------------------------------------------
# Transfer between processes


def test_thousands_of_frames_wrap_around_in_order(make_ring: MakeRing) -> None:
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


def test_many_producers_many_consumers(make_ring: MakeRing) -> None:
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


def test_acquire_timeouts_return_none_after_waiting(make_ring: MakeRing) -> None:
    """A timed-out wait gives None, never early (the upper bound is only a hang guard)."""
    ring = make_ring(slots=1, slot_bytes=64)
    for wait in (0.0, 0.2):
        start = time.monotonic()
        assert ring.acquire_read(wait) is None
        assert wait <= time.monotonic() - start + 0.01 < WAIT_S
    slot, _ = ring.acquire_write(0)
    for wait in (0.0, 0.2):
        start = time.monotonic()
        assert ring.acquire_write(wait) is None
        assert wait <= time.monotonic() - start + 0.01 < WAIT_S
    ring.release(slot)


def _fill(ring: SharedRing, stream: int, seqs: range, *, pinned: bool = False) -> None:
    for seq in seqs:
        slot, evicted = ring.acquire_write(0)
        assert evicted is None
        _write_item(ring, slot, stream, seq, pinned=pinned)


def test_drop_oldest_evicts_the_oldest_unread(make_ring: MakeRing) -> None:
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


def test_drop_oldest_returns_none_when_all_slots_leased(make_ring: MakeRing) -> None:
    """drop_oldest never waits: a long timeout still gives None at once (hang guard only)."""
    ring = make_ring(slots=2, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    _fill(ring, 0, range(2))
    leased = [ring.acquire_read(0)[0], ring.acquire_read(0)[0]]
    start = time.monotonic()
    assert ring.acquire_write(10 * WAIT_S) is None
    assert time.monotonic() - start < WAIT_S
    assert ring.evicted_count == 0
    ring.release(leased[0])
    assert ring.acquire_write(0) == (leased[0], None)
    ring.release(leased[0])
    ring.release(leased[1])


def test_drop_oldest_never_evicts_a_pinned_item(make_ring: MakeRing) -> None:
    ring = make_ring(slots=3, slot_bytes=16 * 16 * 3, policy="drop_oldest")
    _fill(ring, 1, range(1), pinned=True)  # stream 1 ended (pinned EOS); stream 0 goes on
    _fill(ring, 0, range(2))
    slot, evicted = ring.acquire_write(0)
    assert (evicted.stream, evicted.seq) == (0, 0)
    _write_item(ring, slot, 0, 2)
    order = []
    while (got := ring.acquire_read(0)) is not None:
        order.append((got[1].stream, got[1].seq, got[1].eos))
        ring.release(got[0])
    assert order == [(1, 0, True), (0, 1, False), (0, 2, False)]
    _fill(ring, 1, range(3), pinned=True)
    assert ring.acquire_write(0) is None  # only pinned items: nothing to evict
    assert ring.evicted_count == 1


def test_pinning_is_per_publish_not_per_flag(make_ring: MakeRing) -> None:
    """The ring looks at ``pinned`` only: an unpinned EOS-flagged item can be evicted, and a
    slot re-used after a pinned item is not pinned any more."""
    ring = make_ring(slots=1, slot_bytes=64, policy="drop_oldest")
    slot, _ = ring.acquire_write(0)
    ring.publish(slot, FrameHeader(seq=1), pinned=True)
    ring.release(ring.acquire_read(0)[0])
    slot, _ = ring.acquire_write(0)
    ring.publish(slot, FrameHeader(seq=2, flags=FLAG_EOS))  # same slot, not pinned
    got = ring.acquire_write(0)
    assert got is not None and got[1].seq == 2 and got[1].eos
    ring.release(got[0])


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


def test_drop_oldest_counts_match_across_processes(make_ring: MakeRing) -> None:
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


def test_release_from_a_third_process(make_ring: MakeRing) -> None:
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


def test_killed_consumer_does_not_hang_producer(make_ring: MakeRing) -> None:
    ring = make_ring(slots=2, slot_bytes=16 * 16 * 3)
    leased = CTX.Event()
    consumer = _start(_lease_and_hang, ring, leased)
    _fill(ring, 0, range(2))
    assert leased.wait(WAIT_S)
    os.kill(consumer.pid, signal.SIGKILL)
    consumer.join(WAIT_S)
    assert consumer.exitcode == -signal.SIGKILL
    assert ring.acquire_write(0.3) is None  # times out: the producer is not stuck
    ring.close()
    ring.unlink()
    assert shm_segments() == []


def _take_lock_and_hang(ring: SharedRing, locked: Any) -> None:
    ring._lock.acquire()
    locked.set()
    time.sleep(60)


def test_lock_held_by_dead_peer_raises_ring_timeout(make_ring: MakeRing) -> None:
    ring = make_ring(slots=2, slot_bytes=64, lock_timeout=0.3)
    locked = CTX.Event()
    peer = _start(_take_lock_and_hang, ring, locked)
    assert locked.wait(WAIT_S)
    os.kill(peer.pid, signal.SIGKILL)
    peer.join(WAIT_S)
    with pytest.raises(RingTimeout, match=r"lock not acquired within 0\.3s"):
        ring.acquire_write(WAIT_S)
    assert ring._free_sem.get_value() == 2  # the semaphore taken before the lock went back
    assert isinstance(RingTimeout("x"), TimeoutError)
