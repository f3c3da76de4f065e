"""The console's HTTP server: aiohttp on its own thread and event loop, in the parent.

Routes: ``/`` (the page), ``/api/status`` (JSON), ``/api/events`` (server-sent events:
the recent ones, then each new one), ``/api/events/<id>.jpg`` (an event's thumbnail),
``/api/live`` (WebSocket: binary messages ``[stream byte][JPEG]``, the newest picture of
each camera the client asked for), ``/api/frame/<stream>.jpg`` (one picture),
``/metrics`` (Prometheus). Every route passes :class:`~streampose.console.auth.Auth`.

Before any of that, every connection passes the :class:`~streampose.console.gate.Gate`
(our own accept loop, :mod:`streampose.console.listener`): caps per server and per client
address, a reserve of file descriptors for the run's own outputs, a header timeout and an
idle timeout. A request is then authenticated before anything else is done for it; a
WebSocket upgrade must come from the console's own origin (or ``--serve-origin``); the
WebSocket and event-stream clients are capped too. What is refused is counted
(``/metrics``, ``/api/status`` ``console``) and logged once per burst, never per call.

Nothing a client does can grow memory or slow the pipeline: each WebSocket client has one
"newest picture" box per camera that a new picture overwrites, and each event-stream
client a bounded queue that drops when full; a client that does not read only blocks its
own sender task. Pictures are encoded once per new frame, whoever watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from streampose.console.auth import COOKIE, Auth
from streampose.console.burst import BurstLog
from streampose.console.events import EventHub
from streampose.console.gate import Gate, Limits
from streampose.console.listener import Listener
from streampose.console.origin import origin_allowed
from streampose.console.preview import PreviewHub
from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.observe.metrics import CONTENT_TYPE, bind_message

__all__ = ["ConsoleServer", "ConsoleState"]

log = logging.getLogger(__name__)

EVENT_QUEUE = 100        # events waiting for one slow event-stream client, at most
HEARTBEAT_S = 15.0       # a comment line on idle event streams (proxies close silent ones)
SWEEP_S = 1.0            # timeouts and one-shot watches are checked this often, at most
MAX_LINE = 8190          # longest request line or header line (aiohttp answers 400 beyond)


@dataclass
class ConsoleState:
    """What the server shows: ``status()`` (a JSON-able dict, cheap, thread-safe),
    ``metrics()`` (the Prometheus text), the pictures and the events."""

    status: Callable[[], dict[str, Any]]
    metrics: Callable[[], bytes]
    previews: PreviewHub
    events: EventHub
    fps: float = 2.0
    cameras: list[str] = field(default_factory=list)


class _Client:
    """One WebSocket viewer: which cameras it watches and the frame last sent of each
    (the pictures themselves are the hub's, shared by every viewer)."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.sent: dict[int, int] = {}  # watched camera -> frame index last sent


class ConsoleServer(Resource):
    """Serves the console on ``host:port``; ``port=0`` picks one (read ``.port``)."""

    def __init__(self, state: ConsoleState, *, host: str = "127.0.0.1", port: int = 0,
                 auth: Auth | None = None, limits: Limits | None = None,
                 origins: frozenset[str] = frozenset()) -> None:
        self.state, self.host, self._port = state, host, port
        self.auth = auth or Auth()
        self.origins = origins
        self.burst = BurstLog(log)
        self.gate = Gate(limits=limits, on_limit=self._limit_reached)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._listener: Listener | None = None
        self._clients: set[_Client] = set()
        self._event_queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self.dropped_events = 0   # events not delivered to a slow event-stream client
        self._bound = port

    @property
    def port(self) -> int:
        return self._bound

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Bind and serve on a new thread; OutputError when the address cannot be bound."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready, failure),
                                        name="streampose-console", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._join()
            exc = failure[0]
            if isinstance(exc, OSError):
                raise OutputError(bind_message("console", self.host, self._port, exc)) from exc
            raise exc
        self.state.events.subscribe(self._on_event)
        log.info("console at %s", self.url)

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_error)
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to open() on the caller's thread
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.create_task(self._expire())
        loop.run_forever()
        loop.run_until_complete(self._stop())
        loop.close()

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._guard])
        app.add_routes([web.get("/", self._page), web.get("/api/status", self._status),
                        web.get("/api/events", self._events),
                        web.get(r"/api/events/{id:\d+}.jpg", self._thumbnail),
                        web.get("/api/live", self._live),
                        web.get(r"/api/frame/{stream:\d+}.jpg", self._frame),
                        web.get("/metrics", self._metrics)])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        assert self._runner.server is not None
        # aiohttp's own keep-alive timeout only backs up the gate's (which counts)
        backstop = self.gate.limits.idle_timeout_s + 2 * SWEEP_S
        options = {"access_log": None, "keepalive_timeout": backstop,
                   "max_line_size": MAX_LINE, "max_field_size": MAX_LINE}
        self._listener = Listener(server=self._runner.server, gate=self.gate,
                                  burst=self.burst, handler_options=options)
        await self._listener.start(self.host, self._port)
        self._bound = self._listener.port

    async def _stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.burst.flush(everything=True)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        """Stop serving, let go of every viewer and join the thread; idempotent."""
        loop = self._loop
        if loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        self._join()
        self.state.previews.stop()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._thread, self._loop = None, None

    def _limit_reached(self, what: str, limit: str) -> None:
        action = {"shed": "closed the oldest waiting connection",
                  "refused": "refused a live client" if limit == "max_streams"
                  else "refused a connection"}[what]
        self.burst.log(f"{what}:{limit}", logging.WARNING,
                       "console: %s: [console] %s reached (counted in /metrics)", action, limit)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's errors on this loop: logged once per burst of the same message."""
        message = str(context.get("message", "error"))
        exc = context.get("exception")
        self.burst.log(f"loop:{message}", logging.ERROR, "console: %s: %r", message, exc,
                       exc_info=exc if isinstance(exc, BaseException) else None)

    # -- gate and auth -------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        """The connection is inside a request (no timeout, never shed) until it returns."""
        conn = getattr(request.protocol, "conn", None)
        if conn is not None:
            self.gate.begin(conn)
        try:
            return await self._authenticate(request, handler)
        finally:
            if conn is not None:
                self.gate.end(conn)

    async def _authenticate(self, request: web.Request,
                            handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                            ) -> web.StreamResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        response = await handler(request)
        token = request.query.get("token")
        if token and self.auth.token is not None and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    def _refusal(self, request: web.Request) -> web.Response | None:
        """The answer to a request that may not pass (400, 401, 403), or None."""
        try:
            allowed = self.auth.allows(request.headers, request.query, request.cookies)
        except ValueError:  # a header or query that does not decode: the client's mistake
            self.gate.count("bad_request")
            return web.Response(status=400, text="400: undecodable request\n")
        if not allowed:
            self.gate.count("unauthorised")
            return web.Response(status=401, text="401: authentication required\n",
                                headers={"WWW-Authenticate": self.auth.challenge})
        if _is_upgrade(request) and not origin_allowed(
                request.headers.get("Origin"), request.headers.get("Host"), self.origins):
            self.gate.count("refused_origin")
            return web.Response(status=403, text="403: WebSocket from another origin "
                                "(see --serve-origin)\n")
        return None

    @contextlib.asynccontextmanager
    async def _stream_slot(self, request: web.Request) -> Any:
        """A WebSocket or event-stream client's place (503 when the caps are reached)."""
        conn = getattr(request.protocol, "conn", None)
        address = conn.address if conn is not None else str(request.remote)
        if not self.gate.open_stream(address):
            raise web.HTTPServiceUnavailable(text="too many live clients; try again later\n",
                                             headers={"Retry-After": "5"})
        try:
            yield
        finally:
            self.gate.close_stream(address)

    # -- routes --------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        page = importlib.resources.files("streampose.console").joinpath("static/index.html")
        return web.Response(text=page.read_text(encoding="utf-8"), content_type="text/html",
                            headers={"Cache-Control": "no-store"})

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({**self.state.status(), "console": self.gate.counts()})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.state.metrics() + gate_exposition(self.gate.counts())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _thumbnail(self, request: web.Request) -> web.Response:
        jpeg = self.state.events.thumbnail(int(request.match_info["id"]))
        if jpeg is None:
            raise web.HTTPNotFound(text="no such event thumbnail\n")
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def _frame(self, request: web.Request) -> web.Response:
        stream = self._stream(request.match_info["stream"])
        self.state.previews.touch(stream)
        picture = self.state.previews.jpeg(stream)
        if picture is None:
            raise web.HTTPServiceUnavailable(text="no picture yet; ask again shortly\n",
                                             headers={"Retry-After": "1"})
        return web.Response(body=picture.jpeg, content_type="image/jpeg",
                            headers={"X-Frame": str(picture.frame),
                                     "Cache-Control": "no-store"})

    def _stream(self, text: str) -> int:
        stream = int(text)
        if not 0 <= stream < self.state.previews.link.streams:
            raise web.HTTPNotFound(text="no such stream\n")
        return stream

    async def _events(self, request: web.Request) -> web.StreamResponse:
        async with self._stream_slot(request):
            return await self._event_stream(request)

    async def _event_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=EVENT_QUEUE)
        for record in self.state.events.recent()[-EVENT_QUEUE:]:
            queue.put_nowait(record)
        self._event_queues.add(queue)
        try:
            while True:
                try:
                    record = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except asyncio.TimeoutError:
                    await self._write(response, b": keep-alive\n\n")
                    continue
                await self._write(response, f"data: {json.dumps(record)}\n\n".encode())
        except (ConnectionResetError, asyncio.TimeoutError):
            pass  # the client went away, or has not read for the idle timeout
        finally:
            self._event_queues.discard(queue)
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        """One write that a client who stopped reading cannot hold beyond the idle timeout."""
        await asyncio.wait_for(response.write(data), self.gate.limits.idle_timeout_s)

    def _on_event(self, record: dict[str, Any]) -> None:
        """A new event (on the pumping thread): to every event-stream client's queue."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._deliver, record)

    def _deliver(self, record: dict[str, Any]) -> None:
        for queue in self._event_queues:
            if queue.full():
                self.dropped_events += 1
            else:
                queue.put_nowait(record)

    async def _live(self, request: web.Request) -> web.WebSocketResponse:
        async with self._stream_slot(request):
            return await self._live_socket(request)

    async def _live_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
        await ws.prepare(request)
        client, watched = _Client(), set[int]()
        self._clients.add(client)
        sender = asyncio.get_running_loop().create_task(self._send(ws, client))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                watched = self._rewatch(watched, msg.data)
                client.sent = {s: client.sent.get(s, -1) for s in watched}
                client.wake.set()
        finally:
            for stream in watched:
                self.state.previews.detach(stream)
            self._clients.discard(client)
            sender.cancel()
        return ws

    def _rewatch(self, watched: set[int], text: str) -> set[int]:
        """A client message ``{"watch": [0, 1]}``: the cameras it wants from now on."""
        try:
            asked = json.loads(text).get("watch", [])
        except (ValueError, AttributeError):
            return watched
        streams = range(self.state.previews.link.streams)
        wanted = {s for s in asked if isinstance(s, int) and s in streams} \
            if isinstance(asked, list) else watched
        for stream in wanted - watched:
            self.state.previews.attach(stream)
        for stream in watched - wanted:
            self.state.previews.detach(stream)
        return wanted

    async def _send(self, ws: web.WebSocketResponse, client: _Client) -> None:
        """Send each watched camera's picture when it is newer than the last one sent;
        a client that does not read stalls here, and only here."""
        period = 1.0 / self.state.fps
        with contextlib.suppress(ConnectionResetError):
            while not ws.closed:
                for stream, last in list(client.sent.items()):
                    picture = self.state.previews.jpeg(stream)
                    if picture is not None and picture.frame != last:
                        await ws.send_bytes(bytes([stream]) + picture.jpeg)
                        client.sent[stream] = picture.frame
                client.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(client.wake.wait(), period / 2)

    async def _expire(self) -> None:
        """Now and then: close timed-out connections, report ended log bursts, and let go
        of the cameras whose one-shot watch has run out."""
        limits = self.gate.limits
        period = min(SWEEP_S, limits.header_timeout_s / 4, limits.idle_timeout_s / 4)
        loop = asyncio.get_running_loop()
        next_expire = loop.time()
        while True:
            await asyncio.sleep(period)
            self.gate.sweep()
            self.burst.flush()
            if loop.time() >= next_expire:
                self.state.previews.expire()
                next_expire = loop.time() + SWEEP_S


def _is_upgrade(request: web.Request) -> bool:
    return request.path == "/api/live" or \
        request.headers.get("Upgrade", "").lower() == "websocket"


_GATE_METRICS = {  # count -> (metric, label value)
    "refused_address": ("refused", "address"), "refused_connections": ("refused", "server"),
    "refused_fds": ("refused", "fd_reserve"), "refused_streams": ("refused", "streams"),
    "refused_origin": ("refused", "origin"), "shed": ("closed", "shed"),
    "header_timeout": ("closed", "header_timeout"), "idle_timeout": ("closed", "idle_timeout"),
    "bad_request": ("bad_requests", ""), "unauthorised": ("unauthorised", ""),
    "accept_error": ("accept_errors", ""),
}


def gate_exposition(counts: dict[str, int]) -> bytes:
    """The gate's figures in Prometheus text: open connections and live clients, and the
    ``streampose_console_*_total`` counts (refused by reason, closed by reason, ...)."""
    lines = ["# TYPE streampose_console_connections gauge",
             f"streampose_console_connections {counts.get('connections', 0)}",
             "# TYPE streampose_console_streams gauge",
             f"streampose_console_streams {counts.get('streams', 0)}"]
    families: dict[str, list[str]] = {}
    for key, (metric, reason) in _GATE_METRICS.items():
        label = f'{{reason="{reason}"}}' if reason else ""
        families.setdefault(metric, []).append(
            f"streampose_console_{metric}_total{label} {counts.get(key, 0)}")
    for metric, samples in families.items():
        lines += [f"# TYPE streampose_console_{metric}_total counter", *samples]
    return ("\n".join(lines) + "\n").encode()
