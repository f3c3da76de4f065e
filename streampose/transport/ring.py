"""SharedRing: a multi-producer/multi-consumer ring of fixed slots in shared memory.

One ``multiprocessing.shared_memory`` segment holds everything the processes share:

* a control area: geometry (checked on attach), the head/tail counters of two index FIFOs
  (the free list and the FIFO of filled slots), a per-slot state word and pin word, the
  eviction counter;
* one fixed-size header record per slot, opaque to the ring: a
  :class:`~streampose.transport.codec.HeaderCodec` given at creation packs and unpacks it;
* the slot payloads, page aligned, each slot 64-byte aligned.

Two counting semaphores (``free`` and ``filled``) count the entries of the two FIFOs and a
lock protects the FIFOs and the counters. Every wait has a timeout: a semaphore wait that
times out returns ``None``; a lock that cannot be taken within ``lock_timeout`` seconds
(a peer died while holding it) raises :class:`~streampose.errors.RingTimeout`.

Slot life cycle::

    FREE --acquire_write--> WRITING --publish--> FILLED --acquire_read--> LEASED --release--> FREE
                               |  ^                 |
                               |  +--- evicted -----+   (drop_oldest policy, unpinned items)
                               +--------------------------------------------release--> FREE

Only the supervisor creates and unlinks segments (:meth:`SharedRing.create`,
:meth:`SharedRing.unlink`; names from :mod:`streampose.transport.shm`). Rings travel to
spawned stage processes as ``Process`` arguments; the child attaches by name.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from streampose.arith import round_up
from streampose.errors import RingTimeout
from streampose.transport.codec import HeaderCodec
from streampose.transport.shm import attach_untracked, run_prefix

__all__ = ["POLICIES", "SharedRing"]

log = logging.getLogger(__name__)

POLICIES = ("block", "drop_oldest")
DEFAULT_LOCK_TIMEOUT_S = 2.0

_MAGIC = 0x5350_5249_4E47_0002  # "SPRING" + layout version 2
# Control words (int64): geometry first, then the counters.
_W_MAGIC, _W_SLOTS, _W_SLOT_BYTES, _W_POLICY = 0, 1, 2, 3
_W_FREE_HEAD, _W_FREE_TAIL, _W_FILLED_HEAD, _W_FILLED_TAIL, _W_EVICTED = 4, 5, 6, 7, 8
_N_WORDS = 16

_FREE, _WRITING, _FILLED, _LEASED = 0, 1, 2, 3
_STATE_NAMES = ("free", "writing", "filled", "leased")

_SLOT_ALIGN = 64
_PAGE = 4096



@dataclass(frozen=True, slots=True)
class _Layout:
    """Byte offsets of the parts of a ring segment."""

    slots: int
    slot_bytes: int
    header_bytes: int

    @property
    def free_fifo(self) -> int:
        return _N_WORDS * 8

    @property
    def filled_fifo(self) -> int:
        return self.free_fifo + 4 * self.slots

    @property
    def states(self) -> int:
        return self.filled_fifo + 4 * self.slots

    @property
    def pins(self) -> int:
        return self.states + 4 * self.slots

    @property
    def headers(self) -> int:
        return round_up(self.pins + 4 * self.slots, 64)

    @property
    def header_stride(self) -> int:
        return round_up(self.header_bytes, 16)

    @property
    def stride(self) -> int:
        return round_up(self.slot_bytes, _SLOT_ALIGN)

    @property
    def payload(self) -> int:
        return round_up(self.headers + self.header_stride * self.slots, _PAGE)

    @property
    def size(self) -> int:
        return self.payload + self.stride * self.slots


# ---------------------------------------------------------------------------------------
# The ring


class SharedRing:
    """Fixed slots in one shared-memory segment, handed between processes by index.

    Build with :meth:`create` in the supervisor; pass the object to spawned processes as a
    ``Process`` argument (it can only be pickled while spawning, like the semaphores it
    carries). See the module docstring for the slot life cycle.
    """

    def __init__(
        self,
        *,
        shm: SharedMemory,
        slots: int,
        slot_bytes: int,
        policy: str,
        codec: HeaderCodec,
        sems: tuple[Any, Any, Any],
        lock_timeout: float,
        owner: bool,
    ) -> None:
        self._shm = shm
        self.name = shm.name
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.policy = policy
        self.codec = codec
        self._free_sem, self._filled_sem, self._lock = sems
        self._lock_timeout = lock_timeout
        self._owner_pid = os.getpid() if owner else None
        self._closed = False
        self._unlinked = False
        self._map(_Layout(slots, slot_bytes, codec.size))

    # -- construction ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        name: str,
        slots: int,
        slot_bytes: int,
        codec: HeaderCodec,
        policy: str = "block",
        ctx: Any = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
    ) -> SharedRing:
        """Create the segment ``<run_prefix()>-<name>`` (supervisor only); all slots free.

        ``ctx`` is the multiprocessing context the stages are started with (default spawn).
        ``lock_timeout`` bounds every wait on the internal lock (held for microseconds).
        """
        _check_create_args(slots, slot_bytes, policy, lock_timeout)
        if ctx is None:
            ctx = multiprocessing.get_context("spawn")
        layout = _Layout(slots, slot_bytes, codec.size)
        sems = (ctx.Semaphore(slots), ctx.Semaphore(0), ctx.Lock())
        shm = SharedMemory(name=f"{run_prefix()}-{name}", create=True, size=layout.size)
        ring = cls(shm=shm, slots=slots, slot_bytes=slot_bytes, policy=policy, codec=codec,
                   sems=sems, lock_timeout=lock_timeout, owner=True)  # fmt: skip
        ring._init_control(policy)
        log.debug("created ring %s: %d slots x %d bytes (%s)", ring.name, slots, slot_bytes,
                  policy)  # fmt: skip
        return ring

    def _init_control(self, policy: str) -> None:
        w = self._words
        w[_W_MAGIC], w[_W_SLOTS], w[_W_SLOT_BYTES] = _MAGIC, self.slots, self.slot_bytes
        w[_W_POLICY] = POLICIES.index(policy)
        for slot in range(self.slots):
            self._free[slot] = slot
        w[_W_FREE_TAIL] = self.slots

    def _map(self, layout: _Layout) -> None:
        buf = self._shm.buf
        if buf is None:
            raise ValueError(f"segment {self.name!r} is not mapped")
        self._buf: memoryview = buf
        self._words = buf[: _N_WORDS * 8].cast("q")
        self._free = buf[layout.free_fifo : layout.filled_fifo].cast("i")
        self._filled = buf[layout.filled_fifo : layout.states].cast("i")
        self._states = buf[layout.states : layout.pins].cast("i")
        self._pins = buf[layout.pins : layout.pins + 4 * self.slots].cast("i")
        self._headers_at = layout.headers
        self._header_stride = layout.header_stride
        payload = np.frombuffer(buf, dtype=np.uint8, offset=layout.payload)
        self._payloads = [
            payload[i * layout.stride : i * layout.stride + self.slot_bytes]
            for i in range(self.slots)
        ]

    def _check_attached(self) -> None:
        w = self._words
        geometry = (w[_W_MAGIC], w[_W_SLOTS], w[_W_SLOT_BYTES])
        if geometry != (_MAGIC, self.slots, self.slot_bytes):
            raise ValueError(f"segment {self.name!r} does not hold this ring's layout")

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self.name, "slots": self.slots, "slot_bytes": self.slot_bytes,
            "policy": self.policy, "codec": self.codec,
            "sems": (self._free_sem, self._filled_sem, self._lock),
            "lock_timeout": self._lock_timeout,
        }  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        shm = attach_untracked(state.pop("name"))
        self.__init__(shm=shm, owner=False, **state)  # type: ignore[misc]
        self._check_attached()

    def __repr__(self) -> str:
        return (f"SharedRing(name={self.name!r}, slots={self.slots}, "
                f"slot_bytes={self.slot_bytes}, policy={self.policy!r})")  # fmt: skip

    # -- locking and FIFOs (call with the lock held) -------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._lock.acquire(True, self._lock_timeout):
            raise RingTimeout(
                f"ring {self.name!r}: lock not acquired within {self._lock_timeout}s "
                "(a peer probably died holding it)"
            )
        try:
            yield
        finally:
            self._lock.release()

    def _pop(self, fifo: memoryview, head_word: int) -> int:
        w = self._words
        head = w[head_word]
        w[head_word] = head + 1
        return fifo[head % self.slots]

    def _push(self, fifo: memoryview, tail_word: int, slot: int) -> None:
        w = self._words
        tail = w[tail_word]
        fifo[tail % self.slots] = slot
        w[tail_word] = tail + 1

    def _set_state(self, slot: int, expected: tuple[int, ...], new: int) -> None:
        state = self._states[slot]
        if state not in expected:
            raise ValueError(
                f"ring {self.name!r}: slot {slot} is {_STATE_NAMES[state]}, "
                f"expected {' or '.join(_STATE_NAMES[s] for s in expected)}"
            )
        self._states[slot] = new

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} out of range 0..{self.slots - 1}")

    def _header(self, slot: int) -> Any:
        return self.codec.unpack_from(self._buf, self._headers_at + slot * self._header_stride)

    # -- producer side -------------------------------------------------------------------

    def acquire_write(self, timeout: float) -> tuple[int, Any] | None:
        """Reserve a slot to write: ``(slot, evicted)`` or ``None``.

        ``block`` policy: waits up to ``timeout`` seconds for a free slot; ``evicted`` is
        always ``None``. ``drop_oldest``: never waits; takes a free slot, else steals the
        oldest published-but-unread item (never a pinned one) and returns its header as
        ``evicted``; returns ``None`` at once when every slot is being written or
        leased by consumers.
        """
        if self.policy == "block":
            if not _acquire(self._free_sem, timeout):
                return None
            return self._take_free(), None
        return self._acquire_dropping()

    def _take_free(self) -> int:
        try:
            with self._locked():
                slot = self._pop(self._free, _W_FREE_HEAD)
                self._states[slot] = _WRITING
        except RingTimeout:
            self._free_sem.release()
            raise
        return slot

    def _acquire_dropping(self) -> tuple[int, Any] | None:
        if self._free_sem.acquire(False):
            return self._take_free(), None
        if not self._filled_sem.acquire(False):
            return None
        try:
            with self._locked():
                slot = self._steal_oldest()
        except RingTimeout:
            self._filled_sem.release()
            raise
        if slot is None:
            self._filled_sem.release()
            return None
        return slot, self._header(slot)

    def _steal_oldest(self) -> int | None:
        """Remove the oldest filled unpinned slot from the FIFO, keeping the others' order."""
        w, fifo, n = self._words, self._filled, self.slots
        head, tail = w[_W_FILLED_HEAD], w[_W_FILLED_TAIL]
        pos = head
        while pos < tail and self._pins[fifo[pos % n]]:
            pos += 1
        if pos == tail:
            return None
        slot = fifo[pos % n]
        for i in range(pos, head, -1):  # shift the pinned items skipped over by one
            fifo[i % n] = fifo[(i - 1) % n]
        w[_W_FILLED_HEAD] = head + 1
        w[_W_EVICTED] += 1
        self._states[slot] = _WRITING
        return slot

    def array(self, slot: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """Writable zero-copy view of ``slot``'s payload; ValueError if it does not fit."""
        self._check_slot(slot)
        dt = np.dtype(dtype)
        nbytes = dt.itemsize * _prod(shape)
        if nbytes > self.slot_bytes:
            raise ValueError(
                f"array {tuple(shape)} {dt} needs {nbytes} bytes; ring {self.name!r} "
                f"slots hold {self.slot_bytes}"
            )
        out: np.ndarray = self._payloads[slot][:nbytes].view(dt).reshape(shape)
        return out

    def publish(self, slot: int, header: Any, *, pinned: bool = False) -> None:
        """Store ``header`` in the slot's record and append the slot to the filled FIFO.

        A ``pinned`` item is never evicted by ``drop_oldest`` (e.g. an end-of-stream mark).
        """
        self._check_slot(slot)
        self.codec.pack_into(self._buf, self._headers_at + slot * self._header_stride, header)
        self._pins[slot] = int(pinned)
        with self._locked():
            self._set_state(slot, (_WRITING,), _FILLED)
            self._push(self._filled, _W_FILLED_TAIL, slot)
        self._filled_sem.release()

    # -- consumer side -------------------------------------------------------------------

    def acquire_read(self, timeout: float) -> tuple[int, Any] | None:
        """Take the oldest published item: ``(slot, header)``, or ``None`` on timeout.

        The slot stays leased until someone calls :meth:`release` (any process).
        """
        if not _acquire(self._filled_sem, timeout):
            return None
        try:
            with self._locked():
                slot = self._pop(self._filled, _W_FILLED_HEAD)
                self._states[slot] = _LEASED
        except RingTimeout:
            self._filled_sem.release()
            raise
        return slot, self._header(slot)

    def view(self, slot: int, shape: tuple[int, ...], dtype: Any, *,
             writable: bool = False) -> np.ndarray:
        """Zero-copy view of the payload as ``shape``/``dtype``.

        Read-only unless ``writable`` (e.g. render drawing on its leased frame in place).
        """
        out = self.array(slot, shape, dtype)
        out.flags.writeable = writable
        return out

    def release(self, slot: int) -> None:
        """Return a leased (or reserved, unpublished) slot to the free list."""
        self._check_slot(slot)
        with self._locked():
            self._set_state(slot, (_LEASED, _WRITING), _FREE)
            self._push(self._free, _W_FREE_TAIL, slot)
        self._free_sem.release()

    # -- stats and lifecycle -------------------------------------------------------------

    @property
    def evicted_count(self) -> int:
        """Items evicted by ``drop_oldest`` so far, over all processes."""
        return self._words[_W_EVICTED]

    def pending(self) -> int:
        """Published items not yet read (read without the lock: approximate)."""
        w = self._words
        return max(0, w[_W_FILLED_TAIL] - w[_W_FILLED_HEAD])

    def close(self) -> None:
        """Detach this process from the segment (idempotent). Drop every array view first."""
        if self._closed:
            return
        self._closed = True
        self._payloads = []
        for view in (self._words, self._free, self._filled, self._states, self._pins):
            view.release()
        self._buf = None  # type: ignore[assignment]
        try:
            self._shm.close()
        except BufferError:
            log.debug("ring %s: arrays still reference the segment; unmapped when they go",
                        self.name)  # fmt: skip

    def unlink(self) -> None:
        """Destroy the segment (supervisor only; idempotent). Attached peers keep access."""
        if self._owner_pid != os.getpid():
            raise RuntimeError(f"ring {self.name!r}: only the process that created it unlinks")
        if self._unlinked:
            return
        self._unlinked = True
        try:
            self._shm.unlink()
        except FileNotFoundError:
            log.warning("ring %s: segment already gone", self.name)


def _check_create_args(slots: int, slot_bytes: int, policy: str, lock_timeout: float) -> None:
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    if slot_bytes < 1:
        raise ValueError(f"slot_bytes must be >= 1, got {slot_bytes}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if lock_timeout <= 0:
        raise ValueError(f"lock_timeout must be > 0, got {lock_timeout}")


def _acquire(sem: Any, timeout: float) -> bool:
    if timeout > 0:
        return bool(sem.acquire(True, timeout))
    return bool(sem.acquire(False))


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n
