"""The console's own accept loop and connection protocol (aiohttp's, with a gate).

asyncio's server accepts up to its backlog of connections per turn before any of them
reaches a protocol, and when ``accept()`` fails for want of descriptors it logs a
traceback per attempt. This listener accepts one connection at a time and asks the
:class:`~streampose.console.gate.Gate` before creating anything (a refused connection is
closed at once: no transport, no parser). What a new connection has sent so far is
peeked at, so that a complete request is known as such however busy the loop is, and a
WebSocket or event-stream request beyond the live-client caps is answered 503 there and
then (the same answer as the server's, with no work for it; the caps are no secret). When
``accept()`` fails, it pauses a moment and logs once per burst
(:class:`~streampose.console.burst.BurstLog`).

:class:`GuardedHandler` is aiohttp's request handler that keeps the gate's books (bytes
received, the end of a request's headers, connection lost) and reports client mistakes
(an oversized or malformed request: aiohttp answers 400/431) as counts, not tracebacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from streampose.console.burst import BurstLog
from streampose.console.gate import Conn, Gate

__all__ = ["GuardedHandler", "Listener"]

log = logging.getLogger(__name__)

BACKLOG = 1024         # the kernel queues this many; a full queue drops new clients' SYNs
ACCEPT_BATCH = 16      # connections accepted per wake-up, at most
ACCEPT_PAUSE_S = 0.25  # after accept() failed (out of descriptors, ...)
PEEK = 16384           # bytes of a new connection looked at before admitting it
STREAM_ROUTES = (b"GET /api/live ", b"GET /api/live?", b"GET /api/events ",
                 b"GET /api/events?")
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 39\r\nConnection: close\r\n\r\ntoo many live clients; try again later\n")


class GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol, keeping the gate's books of ``conn``."""

    def __init__(self, manager: web.Server, *, conn: Conn, gate: Gate, burst: BurstLog,
                 **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.conn, self.gate, self.burst = conn, gate, burst
        self._tail = b""  # the last bytes received, for a header end split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.gate.connected(self.conn, transport.abort)  # type: ignore[attr-defined]

    def connection_lost(self, exc: BaseException | None) -> None:
        self.gate.closed(self.conn)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.conn.busy:  # a new request: are its headers complete?
            seen = self._tail + data
            end = b"\r\n\r\n" in seen
            self._tail = b"" if end else seen[-3:]
            self.gate.received(self.conn, headers_end=end)
        super().data_received(data)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status < 500:  # the client's mistake (malformed, oversized): counted
            self.gate.count("bad_request")
        return super().handle_error(request, status, exc, message)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # the client's mistake, answered 4xx
            log.debug("console: bad request from %s: %s", self.conn.address, exc)
            return
        error = exc if isinstance(exc, BaseException) else sys.exc_info()[1]
        self.burst.log("handler", logging.ERROR, "console: error handling a request: %r",
                       error, exc_info=error)


class Listener:
    """Listening sockets for ``host:port`` whose connections pass ``gate`` before they
    reach aiohttp's ``server``."""

    def __init__(self, *, server: web.Server, gate: Gate, burst: BurstLog,
                 handler_options: dict[str, Any]) -> None:
        self.server, self.gate, self.burst = server, gate, burst
        self._options = handler_options
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return int(self._sockets[0].getsockname()[1]) if self._sockets else 0

    async def start(self, host: str, port: int) -> None:
        """Bind every address of ``host`` (OSError when one cannot be) and accept."""
        self._loop = loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        try:
            for family, _, proto, _, address in dict.fromkeys(
                    (i[0], i[1], i[2], i[3], i[4]) for i in infos):
                self._sockets.append(_bind(family, proto, address))
        except OSError:
            self.stop()
            raise
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets (idempotent)."""
        for sock in self._sockets:
            if self._loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets = []

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                client, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._accept_failed(sock, exc)
                return
            self._take(client, str(address[0]))

    def _accept_failed(self, sock: socket.socket, exc: OSError) -> None:
        self.gate.count("accept_error")
        self.burst.log("accept", logging.WARNING, "console: cannot accept a connection: %s",
                       exc)
        loop = self._loop
        assert loop is not None
        loop.remove_reader(sock.fileno())
        loop.call_later(ACCEPT_PAUSE_S, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if sock in self._sockets and self._loop is not None:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _take(self, client: socket.socket, address: str) -> None:
        """Admit or refuse a new connection; what it has already sent (peeked, left for
        aiohttp to read) tells the gate whether its request is complete, even when this
        loop is too busy to read it soon."""
        try:
            first = client.recv(PEEK, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            first = b""
        except OSError:  # reset already
            client.close()
            return
        if _is_stream_request(first) and not self.gate.stream_room(address):
            self.gate.refuse_stream()
            _busy(client, len(first))
            return
        conn = self.gate.admit(address, first)
        if conn is None:
            client.close()
            return
        client.setblocking(False)
        assert self._loop is not None
        self._loop.create_task(self._connect(client, conn))

    async def _connect(self, client: socket.socket, conn: Conn) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: self._handler(conn), sock=client)
        except OSError:
            self.gate.closed(conn)
            client.close()

    def _handler(self, conn: Conn) -> GuardedHandler:
        assert self._loop is not None
        return GuardedHandler(self.server, conn=conn, gate=self.gate, burst=self.burst,
                              loop=self._loop, **self._options)


def _is_stream_request(first: bytes) -> bool:
    """A complete request for a WebSocket or the event stream (judged before it reaches
    aiohttp, so that the live-client caps refuse it without any work)."""
    return first.startswith(STREAM_ROUTES) and b"\r\n\r\n" in first


def _busy(client: socket.socket, received: int) -> None:
    """Answer 503 and close: the request is read first, so that the close is a clean end
    rather than a reset that could lose the answer."""
    with contextlib.suppress(OSError):
        client.recv(received, socket.MSG_DONTWAIT)
        client.send(BUSY, socket.MSG_DONTWAIT)
    client.close()


def _bind(family: int, proto: int, address: Any) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
