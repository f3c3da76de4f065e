"""SharedRing: a multi-producer/multi-consumer ring of fixed slots in shared memory.

One ``multiprocessing.shared_memory`` segment holds everything the processes share:

* a control area: geometry (checked on attach), the head/tail counters of two index FIFOs
  (the free list and the FIFO of filled slots), a per-slot state word, the eviction counter;
* one fixed-size binary header record per slot (:class:`ItemHeader`, packed with ``struct``);
* the slot payloads, page aligned, each slot 64-byte aligned.

Two counting semaphores (``free`` and ``filled``) count the entries of the two FIFOs and a
lock protects the FIFOs and the counters. Every wait has a timeout: a semaphore wait that
times out returns ``None``; a lock that cannot be taken within ``lock_timeout`` seconds
(a peer died while holding it) raises :class:`~streampose.errors.RingTimeout`.

Slot life cycle::

    FREE --acquire_write--> WRITING --publish--> FILLED --acquire_read--> LEASED --release--> FREE
                               |  ^                 |
                               |  +--- evicted -----+   (drop_oldest policy only)
                               +--------------------------------------------release--> FREE

Only the supervisor creates and unlinks segments (:meth:`SharedRing.create`,
:meth:`SharedRing.unlink`). Rings travel to spawned stage processes as ``Process`` arguments;
the child attaches by name without registering the segment with Python's resource tracker.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import secrets
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from streampose.errors import RingTimeout

__all__ = [
    "FLAG_DROPPED_BEFORE",
    "FLAG_EOS",
    "FLAG_PEAKS",
    "FLAG_RECONNECTED",
    "ItemHeader",
    "SharedRing",
    "run_prefix",
    "sweep_stale_segments",
]

log = logging.getLogger(__name__)

FLAG_EOS = 1
FLAG_DROPPED_BEFORE = 2
FLAG_RECONNECTED = 4
FLAG_PEAKS = 8  # map payload: fp16 PAFs + a peak table (streampose.stages.payload)

POLICIES = ("block", "drop_oldest")
DEFAULT_LOCK_TIMEOUT_S = 2.0
MAX_NDIM = 4

_DTYPES = ("uint8", "float32", "float16")
_DTYPE_CODES = {name: code for code, name in enumerate(_DTYPES)}
_NP_DTYPES = tuple(np.dtype(name) for name in _DTYPES)

# Header record: stream, seq, pts, tb_num, tb_den, wall, width, height, flags, ref,
# ndim, dtype code, 6 pad bytes, shape[4], transform[4], ticket.
_HEADER = struct.Struct("<qqqqqdiiiiBB6x4q4dq")
_HEADER_STRIDE = 144  # _HEADER.size (144), a multiple of 16
_FLAGS_OFFSET = 56  # byte offset of ``flags`` inside a record

_MAGIC = 0x5350_5249_4E47_0001  # "SPRING" + layout version 1
# Control words (int64): geometry first, then the counters.
_W_MAGIC, _W_SLOTS, _W_SLOT_BYTES, _W_POLICY = 0, 1, 2, 3
_W_FREE_HEAD, _W_FREE_TAIL, _W_FILLED_HEAD, _W_FILLED_TAIL, _W_EVICTED = 4, 5, 6, 7, 8
_N_WORDS = 16

_FREE, _WRITING, _FILLED, _LEASED = 0, 1, 2, 3
_STATE_NAMES = ("free", "writing", "filled", "leased")

_SLOT_ALIGN = 64
_PAGE = 4096
_SHM_DIR = "/dev/shm"
_SEGMENT_RE = re.compile(r"^sp-(\d+)-[0-9a-f]{8}(?:-|$)")  # what run_prefix() makes


@dataclass(frozen=True, slots=True)
class ItemHeader:
    """Per-item metadata, stored as a fixed-size binary record in the item's slot."""

    stream: int = 0
    seq: int = 0
    pts: int = 0
    time_base: Fraction = Fraction(1, 1)
    wall: float = 0.0
    width: int = 0
    height: int = 0
    flags: int = 0
    ref: int = -1
    shape: tuple[int, ...] = ()
    dtype: str = "uint8"
    transform: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)
    ticket: int = 0  # per-stream gapless order after preprocess (for re-ordering results)

    @property
    def eos(self) -> bool:
        """True for an end-of-stream item."""
        return bool(self.flags & FLAG_EOS)


# ---------------------------------------------------------------------------------------
# Header records


def _pack_header(buf: memoryview, offset: int, h: ItemHeader) -> None:
    ndim = len(h.shape)
    if ndim > MAX_NDIM:
        raise ValueError(f"header shape {h.shape} has {ndim} dims; at most {MAX_NDIM} allowed")
    code = _DTYPE_CODES.get(h.dtype)
    if code is None:
        raise ValueError(f"header dtype {h.dtype!r} not supported; use one of {_DTYPES}")
    shape = (*h.shape, 0, 0, 0, 0)
    tb = h.time_base
    _HEADER.pack_into(
        buf, offset, h.stream, h.seq, h.pts, tb.numerator, tb.denominator, h.wall,
        h.width, h.height, h.flags, h.ref, ndim, code,
        shape[0], shape[1], shape[2], shape[3], *h.transform, h.ticket,
    )  # fmt: skip


class _TimeBaseCache:
    """Re-uses one Fraction per (num, den): a stream's time base rarely changes.

    One tuple, swapped in a single store, so threads sharing a ring never see a mismatch.
    """

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        self._entry = (1, 1, Fraction(1, 1))

    def get(self, num: int, den: int) -> Fraction:
        entry = self._entry
        if entry[0] != num or entry[1] != den:
            entry = self._entry = (num, den, Fraction(num, den))
        return entry[2]


def _unpack_header(buf: memoryview, offset: int, tb_cache: _TimeBaseCache) -> ItemHeader:
    (stream, seq, pts, num, den, wall, width, height, flags, ref, ndim, code,
     s0, s1, s2, s3, sx, sy, px, py, ticket) = _HEADER.unpack_from(buf, offset)  # fmt: skip
    return ItemHeader(
        stream=stream, seq=seq, pts=pts, time_base=tb_cache.get(num, den), wall=wall,
        width=width, height=height, flags=flags, ref=ref, shape=(s0, s1, s2, s3)[:ndim],
        dtype=_DTYPES[code], transform=(sx, sy, px, py), ticket=ticket,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Segment names and attachment


_prefix: tuple[int, str] | None = None


def run_prefix() -> str:
    """The per-run segment prefix ``sp-<pid>-<random hex>``, computed once per process."""
    global _prefix
    pid = os.getpid()
    if _prefix is None or _prefix[0] != pid:
        _prefix = (pid, f"sp-{pid}-{secrets.token_hex(4)}")
    return _prefix[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_segments(shm_dir: str = _SHM_DIR) -> list[str]:
    """Unlink segments named ``sp-<pid>-*`` whose pid is not alive; return their names."""
    removed: list[str] = []
    try:
        names = sorted(os.listdir(shm_dir))
    except FileNotFoundError:
        return removed
    for name in names:
        match = _SEGMENT_RE.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(shm_dir, name))
            removed.append(name)
            log.info("removed stale shared-memory segment %s", name)
    return removed


_attach_lock = threading.Lock()


@contextlib.contextmanager
def _tracker_ignoring(shm_name: str) -> Iterator[None]:
    """Make ``resource_tracker.register`` skip one shared-memory name (Python < 3.13).

    Under spawn, children share the parent's resource tracker, which keeps a *set* of
    names: a child that registered and then unregistered would erase the supervisor's
    own registration (and concurrent attachers make the tracker print KeyErrors), so the
    child must never register at all.
    """
    original = resource_tracker.register

    def register(name: str, rtype: str) -> None:
        if rtype != "shared_memory" or name.lstrip("/") != shm_name:
            original(name, rtype)

    with _attach_lock:
        resource_tracker.register = register
        try:
            yield
        finally:
            resource_tracker.register = original


def _attach_untracked(shm_name: str) -> SharedMemory:
    if sys.version_info >= (3, 13):
        return SharedMemory(name=shm_name, create=False, track=False)
    with _tracker_ignoring(shm_name):
        return SharedMemory(name=shm_name, create=False)


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


@dataclass(frozen=True, slots=True)
class _Layout:
    """Byte offsets of the parts of a ring segment."""

    slots: int
    slot_bytes: int

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
    def headers(self) -> int:
        return _round_up(self.states + 4 * self.slots, 64)

    @property
    def stride(self) -> int:
        return _round_up(self.slot_bytes, _SLOT_ALIGN)

    @property
    def payload(self) -> int:
        return _round_up(self.headers + _HEADER_STRIDE * self.slots, _PAGE)

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
        sems: tuple[Any, Any, Any],
        lock_timeout: float,
        owner: bool,
    ) -> None:
        self._shm = shm
        self.name = shm.name
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.policy = policy
        self._free_sem, self._filled_sem, self._lock = sems
        self._lock_timeout = lock_timeout
        self._owner_pid = os.getpid() if owner else None
        self._closed = False
        self._unlinked = False
        self._tb_cache = _TimeBaseCache()
        self._map(_Layout(slots, slot_bytes))

    # -- construction ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        name: str,
        slots: int,
        slot_bytes: int,
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
        layout = _Layout(slots, slot_bytes)
        sems = (ctx.Semaphore(slots), ctx.Semaphore(0), ctx.Lock())
        shm = SharedMemory(name=f"{run_prefix()}-{name}", create=True, size=layout.size)
        ring = cls(shm=shm, slots=slots, slot_bytes=slot_bytes, policy=policy, sems=sems,
                   lock_timeout=lock_timeout, owner=True)  # fmt: skip
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
        self._buf = buf
        self._words = buf[: _N_WORDS * 8].cast("q")
        self._free = buf[layout.free_fifo : layout.filled_fifo].cast("i")
        self._filled = buf[layout.filled_fifo : layout.states].cast("i")
        self._states = buf[layout.states : layout.states + 4 * self.slots].cast("i")
        self._headers_at = layout.headers
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
            "policy": self.policy, "sems": (self._free_sem, self._filled_sem, self._lock),
            "lock_timeout": self._lock_timeout,
        }  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        shm = _attach_untracked(state.pop("name"))
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

    def _header(self, slot: int) -> ItemHeader:
        return _unpack_header(self._buf, self._headers_at + slot * _HEADER_STRIDE,
                              self._tb_cache)  # fmt: skip

    # -- producer side -------------------------------------------------------------------

    def acquire_write(self, timeout: float) -> tuple[int, ItemHeader | None] | None:
        """Reserve a slot to write: ``(slot, evicted)`` or ``None``.

        ``block`` policy: waits up to ``timeout`` seconds for a free slot; ``evicted`` is
        always ``None``. ``drop_oldest``: never waits; takes a free slot, else steals the
        oldest published-but-unread item (never an end-of-stream item) and returns its
        header as ``evicted``; returns ``None`` at once when every slot is being written or
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

    def _acquire_dropping(self) -> tuple[int, ItemHeader | None] | None:
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
        """Remove the oldest filled non-EOS slot from the FIFO, keeping the others' order."""
        w, fifo, n = self._words, self._filled, self.slots
        head, tail = w[_W_FILLED_HEAD], w[_W_FILLED_TAIL]
        pos = head
        while pos < tail and self._is_eos(fifo[pos % n]):
            pos += 1
        if pos == tail:
            return None
        slot = fifo[pos % n]
        for i in range(pos, head, -1):  # shift the EOS items skipped over by one
            fifo[i % n] = fifo[(i - 1) % n]
        w[_W_FILLED_HEAD] = head + 1
        w[_W_EVICTED] += 1
        self._states[slot] = _WRITING
        return slot

    def _is_eos(self, slot: int) -> bool:
        offset = self._headers_at + slot * _HEADER_STRIDE + _FLAGS_OFFSET
        return bool(self._buf[offset] & FLAG_EOS)

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
        return self._payloads[slot][:nbytes].view(dt).reshape(shape)

    def publish(self, slot: int, header: ItemHeader) -> None:
        """Store ``header`` in the slot's record and append the slot to the filled FIFO."""
        self._check_slot(slot)
        _pack_header(self._buf, self._headers_at + slot * _HEADER_STRIDE, header)
        with self._locked():
            self._set_state(slot, (_WRITING,), _FILLED)
            self._push(self._filled, _W_FILLED_TAIL, slot)
        self._filled_sem.release()

    # -- consumer side -------------------------------------------------------------------

    def acquire_read(self, timeout: float) -> tuple[int, ItemHeader] | None:
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

    def view(self, slot: int, header: ItemHeader, *, writable: bool = False) -> np.ndarray:
        """Zero-copy view of the payload as ``header.shape``/``header.dtype``.

        Read-only unless ``writable`` (e.g. render drawing on its leased frame in place).
        """
        self._check_slot(slot)
        dt = _NP_DTYPES[_DTYPE_CODES[header.dtype]]
        nbytes = dt.itemsize * _prod(header.shape)
        if nbytes > self.slot_bytes:
            raise ValueError(f"header shape {header.shape} does not fit ring {self.name!r}")
        out = self._payloads[slot][:nbytes].view(dt).reshape(header.shape)
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
        for view in (self._words, self._free, self._filled, self._states):
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
        return sem.acquire(True, timeout)
    return sem.acquire(False)


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n
