"""Who may hold a connection to the console, and for how long.

The console runs in the run's parent: nothing a client does may exhaust its file
descriptors or keep its event loop busy. The gate keeps the books of every connection
(:class:`Conn`) and decides, cheaply and before any HTTP work:

- at accept (:meth:`Gate.admit`): a connection beyond the per-address cap, the server cap
  or the file descriptor reserve (:mod:`streampose.console.fds`) first sheds the oldest
  *waiting* connection of that address (or of anyone, for the server cap and the reserve)
  - one that has not sent a complete request's headers yet, or sits idle between
  requests - and is refused (closed at once) only when none is waiting. The first to go
  are those that showed they are slow (bytes of an unfinished request, idle, or nothing
  at all for ``GRACE_S``); a connection just accepted, whose request may be in flight, is
  shed only when no other waits. So a flood of slow clients can
  neither hold the console nor keep a client that sends its request at once from getting
  in; connections inside a request (a WebSocket, an event stream) are never shed;
- timeouts (:meth:`Gate.sweep`): a connection must send a complete request within
  ``header_timeout_s`` of connecting (or of the first byte of its next request), and may
  stay idle between requests ``idle_timeout_s``;
- WebSocket and event-stream clients (:meth:`Gate.open_stream`): at most ``max_streams``
  in all and ``max_streams_per_address`` per address.

Every refusal, shed and timeout is counted (:meth:`Gate.counts`, shown in ``/metrics``);
``on_limit(what, limit)`` hears of each refusal and shed (the server logs them once per
burst).
The gate is used from the server's event loop thread only.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from streampose.console.fds import free_fds

__all__ = ["Conn", "Gate", "Limits"]

GRACE_S = 1.0  # a new connection that has sent nothing for this long counts as slow


@dataclass(frozen=True)
class Limits:
    """The console's connection limits (``[console]`` options of the same names)."""

    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    max_connections: int = 256
    max_connections_per_address: int = 64
    max_streams: int = 32
    max_streams_per_address: int = 8
    fd_reserve: int = 64


def _nothing() -> None:
    return None


class Conn:
    """One connection's books: its client address, how to close it, whether it is inside
    a request, and when it must have sent one."""

    __slots__ = ("address", "busy", "close", "deadline", "partial", "ready", "served",
                 "since")

    def __init__(self, address: str, since: float, deadline: float) -> None:
        self.address, self.since = address, since
        self.close: Callable[[], None] = _nothing  # set once the transport exists (a
        # connection shed before that is closed as soon as it exists: see Gate.connected)
        self.busy = False
        self.deadline = deadline
        self.served = False    # it has had a request: its waits are idle time
        self.partial = False   # bytes of a request arrived while it was waiting
        self.ready = False     # a request's headers arrived; its handling has not begun


class Gate:
    """The books of every connection and stream client; see the module's text."""

    def __init__(self, *, limits: Limits | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 free: Callable[[], int] = free_fds,
                 on_limit: Callable[[str, str], None] | None = None) -> None:
        self.limits = limits or Limits()
        self._clock, self._free = clock, free
        self._on_limit = on_limit or (lambda what, limit: None)
        self._conns: dict[Conn, None] = {}
        self._per_address: Counter[str] = Counter()
        self._fresh: OrderedDict[Conn, None] = OrderedDict()    # nothing read yet
        self._waiting: OrderedDict[Conn, None] = OrderedDict()  # slow or idle, oldest first
        self._streams: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()

    # -- connections ---------------------------------------------------------------------

    def admit(self, address: str, first: bytes = b"") -> Conn | None:
        """A connection just accepted from ``address`` that has sent ``first`` so far: its
        books, or None to refuse it (counted); may shed a waiting connection to make
        room."""
        limits = self.limits
        if self._per_address[address] >= limits.max_connections_per_address \
                and not self._shed(address, "max_connections_per_address"):
            return self._refuse("address", "max_connections_per_address")
        if len(self._conns) >= limits.max_connections \
                and not self._shed(None, "max_connections"):
            return self._refuse("connections", "max_connections")
        if self._free() < limits.fd_reserve and not self._shed(None, "fd_reserve"):
            return self._refuse("fds", "fd_reserve")
        now = self._clock()
        conn = Conn(address, now, now + limits.header_timeout_s)
        self._conns[conn] = None
        self._fresh[conn] = None
        self._per_address[address] += 1
        if first:
            self.received(conn, headers_end=b"\r\n\r\n" in first)
        return conn

    def connected(self, conn: Conn, close: Callable[[], None]) -> None:
        """Its transport exists, closed by ``close``: at once if it was shed meanwhile."""
        conn.close = close
        if conn not in self._conns:
            close()

    def closed(self, conn: Conn) -> None:
        """The connection is gone (idempotent)."""
        if conn in self._conns:
            del self._conns[conn]
            self._per_address[conn.address] -= 1
            if not self._per_address[conn.address]:
                del self._per_address[conn.address]
        self._unlist(conn)

    def received(self, conn: Conn, *, headers_end: bool = False) -> None:
        """Bytes arrived: if it is waiting, the request they begin must be complete within
        the header timeout; once its headers are complete (``headers_end``) it is about to
        be handled, so no longer shed (it will be if it waits again, idle, afterwards)."""
        if conn.busy:
            return
        if headers_end:  # still timed (it must begin by its deadline), never shed
            conn.ready = True
            self._unlist(conn)
            return
        if not conn.partial:
            conn.partial = True
            conn.deadline = min(conn.deadline, self._clock() + self.limits.header_timeout_s)
            if conn in self._fresh:  # it has shown itself slow: first to be shed
                del self._fresh[conn]
                self._waiting[conn] = None

    def begin(self, conn: Conn) -> None:
        """A complete request arrived: no timeout while it is handled, never shed."""
        conn.busy, conn.served, conn.partial, conn.ready = True, True, False, False
        self._unlist(conn)

    def end(self, conn: Conn) -> None:
        """Its request is answered: it may wait idle for the next one."""
        conn.busy, conn.partial, conn.ready = False, False, False
        conn.deadline = self._clock() + self.limits.idle_timeout_s
        if conn in self._conns:
            self._waiting[conn] = None
            self._waiting.move_to_end(conn)

    def sweep(self) -> None:
        """Close the connections not inside a request past their deadline (counted)."""
        now = self._clock()
        for conn in [c for c in self._conns if not c.busy and now >= c.deadline]:
            timeout = "idle_timeout" if conn.served and not conn.partial else "header_timeout"
            self._counts[timeout] += 1
            self._drop(conn)

    def _unlist(self, conn: Conn) -> None:
        self._fresh.pop(conn, None)
        self._waiting.pop(conn, None)

    def _victim(self, address: str | None) -> Conn | None:
        """The waiting connection to shed (of ``address``, or of anyone): a new one silent
        for ``GRACE_S``, else the oldest slow or idle one, else the oldest new one."""
        fresh = _oldest(self._fresh, address)
        if fresh is not None and self._clock() - fresh.since >= GRACE_S:
            return fresh
        return _oldest(self._waiting, address) or fresh

    def _shed(self, address: str | None, limit: str) -> bool:
        """Close a waiting connection (:meth:`_victim`); False when none waits."""
        victim = self._victim(address)
        if victim is None:
            return False
        self._counts["shed"] += 1
        self._on_limit("shed", limit)
        self._drop(victim)
        return True

    def _drop(self, conn: Conn) -> None:
        self.closed(conn)
        conn.close()

    def _refuse(self, reason: str, limit: str) -> Conn | None:
        self._counts[f"refused_{reason}"] += 1
        self._on_limit("refused", limit)
        return None

    # -- stream clients ------------------------------------------------------------------

    def open_stream(self, address: str) -> bool:
        """A WebSocket or event-stream client from ``address`` may start (False: refused,
        counted); pair with :meth:`close_stream`."""
        if not self.stream_room(address):
            self.refuse_stream()
            return False
        self._streams[address] += 1
        return True

    def stream_room(self, address: str) -> bool:
        """Whether one more WebSocket or event-stream client from ``address`` may start."""
        limits = self.limits
        return sum(self._streams.values()) < limits.max_streams \
            and self._streams[address] < limits.max_streams_per_address

    def refuse_stream(self) -> None:
        """A WebSocket or event-stream client was refused (counted)."""
        self._counts["refused_streams"] += 1
        self._on_limit("refused", "max_streams")

    def close_stream(self, address: str) -> None:
        self._streams[address] -= 1
        if self._streams[address] <= 0:
            del self._streams[address]

    # -- figures -------------------------------------------------------------------------

    def count(self, what: str) -> None:
        """Count something the server saw (``bad_request``, ``accept_error``, ...)."""
        self._counts[what] += 1

    def counts(self) -> dict[str, int]:
        """Connections and streams open now, and every count so far."""
        return {"connections": len(self._conns), "streams": sum(self._streams.values()),
                **self._counts}


def _oldest(conns: OrderedDict[Conn, None], address: str | None) -> Conn | None:
    return next((c for c in conns if address is None or c.address == address), None)
