"""The console server in-process (no pipeline): routes, auth, the event stream, the live
WebSocket, and viewers that never read."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streampose.console.auth import Auth
from streampose.console.events import EventHub
from streampose.console.gate import Limits
from streampose.console.link import ConsoleLink, PreviewHeader
from streampose.console.preview import PreviewHub
from streampose.console.server import EVENT_QUEUE, ConsoleServer, ConsoleState
from streampose.errors import OutputError
from streampose.observe.metrics import MetricsSnapshot, RunMetrics
from tests.support.waiting import wait_until

WAIT_S = 60.0
SNAPSHOT = MetricsSnapshot(streams=[{"stream": 0, "camera": "a", "frames_in": 3}])


def publish(link: ConsoleLink, stream: int, frame: int) -> None:
    ring = link.previews[stream]
    got = ring.acquire_write(0.0)
    assert got is not None
    width, height = link.sizes[stream]
    ring.array(got[0], (height, width, 3), np.uint8)[:] = frame % 256
    ring.publish(got[0], PreviewHeader(frame, 0.0, height, width))


def serve(link: ConsoleLink, auth: str | None = None, host: str = "127.0.0.1",
          origins: frozenset[str] = frozenset(), **limits: Any) -> ConsoleServer:
    metrics = RunMetrics(lambda: SNAPSHOT)
    state = ConsoleState(status=lambda: {"streams": [{"camera": "a"}]},
                         metrics=metrics.exposition, previews=PreviewHub(link),
                         events=EventHub(link), fps=50.0, cameras=["a", "b"])
    return ConsoleServer(state, host=host, port=0, auth=Auth.parse(auth),
                         limits=Limits(**limits), origins=origins)


@pytest.fixture
def console(make_link: Any) -> Iterator[ConsoleServer]:
    with serve(make_link(), auth="tok") as server:
        yield server


def get(url: str, headers: dict[str, str] | None = None, *,
        stream: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body (only the status and headers of a ``stream``)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as resp:
            return resp.status, dict(resp.headers), b"" if stream else resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


ROUTES = ["", "api/status", "api/events", "api/live", "api/frame/0.jpg", "api/events/0.jpg",
          "metrics"]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_refuses_without_the_token(console: ConsoleServer, path: str) -> None:
    status, headers, _ = get(console.url + path)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert get(console.url + path, {"Authorization": "Bearer nope"})[0] == 401


def test_token_in_a_header_or_once_in_the_query(console: ConsoleServer) -> None:
    status, _, body = get(console.url + "api/status", {"Authorization": "Bearer tok"})
    assert status == 200 and json.loads(body)["streams"] == [{"camera": "a"}]
    status, headers, body = get(console.url + "?token=tok")
    assert status == 200 and b"<title>streampose console</title>" in body
    assert "streampose_token=tok" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    assert get(console.url + "metrics", {"Cookie": "streampose_token=tok"})[0] == 200


def test_user_and_password(make_link: Any) -> None:
    with serve(make_link(), auth="ops:pw", host="0.0.0.0") as server:
        url = f"http://127.0.0.1:{server.port}/api/status"
        status, headers, _ = get(url)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        good = base64.b64encode(b"ops:pw").decode()
        assert get(url, {"Authorization": f"Basic {good}"})[0] == 200


def test_metrics_parse(console: ConsoleServer) -> None:
    status, headers, body = get(console.url + "metrics", {"Authorization": "Bearer tok"})
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["streampose_frames_in"].samples[0].value == 3


def test_one_shot_picture(make_link: Any) -> None:
    link = make_link()
    with serve(link) as server:
        status, headers, _ = get(server.url + "api/frame/1.jpg")
        assert status == 503 and headers["Retry-After"] == "1"
        assert link.watch[1] and not link.watch[0]  # asking starts the copying
        publish(link, 1, 42)
        status, headers, body = get(server.url + "api/frame/1.jpg")
        assert status == 200 and headers["X-Frame"] == "42" and body[:2] == b"\xff\xd8"
        assert get(server.url + "api/frame/2.jpg")[0] == 404
    assert not link.watch[1]  # closing lets go


def test_port_in_use_is_an_output_error(make_link: Any) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = serve(make_link())
        server._port = busy.getsockname()[1]
        with pytest.raises(OutputError, match="console: cannot listen"):
            server.open()


def test_event_stream_sends_recent_then_new_events(make_link: Any) -> None:
    link = make_link()
    with serve(link) as server:
        hub = server.state.events
        link.events.put((0, {"camera": "a", "type": "enter"}, b"\xff\xd8thumb"))
        wait_until(hub.pump, timeout=WAIT_S, what="the first event")

        async def read_two() -> list[dict[str, Any]]:
            async with aiohttp.ClientSession() as session, \
                    session.get(server.url + "api/events") as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                got: list[dict[str, Any]] = []
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        got.append(json.loads(line[6:]))
                        if len(got) == 1:
                            link.events.put((1, {"camera": "b", "type": "fall"}, b""))
                            wait_until(hub.pump, timeout=WAIT_S, what="the second event")
                    if len(got) == 2:
                        return got
                return got

        got = asyncio.run(asyncio.wait_for(read_two(), WAIT_S))
        assert [(e["camera"], e["type"], e["id"]) for e in got] == [("a", "enter", 0),
                                                                    ("b", "fall", 1)]
        status, _, body = get(server.url + got[0]["thumbnail"].lstrip("/"))
        assert status == 200 and body == b"\xff\xd8thumb"


def test_a_slow_event_client_has_a_bounded_queue(console: ConsoleServer) -> None:
    """Structural: deliveries beyond a client's queue are dropped and counted."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=EVENT_QUEUE)
    console._event_queues.add(queue)
    for i in range(EVENT_QUEUE + 25):
        console._deliver({"id": i})
    assert queue.qsize() == EVENT_QUEUE and console.dropped_events == 25


def test_live_pictures_over_a_websocket(make_link: Any) -> None:
    link = make_link()
    with serve(link) as server:
        async def watch() -> list[tuple[int, bytes]]:
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(server.url + "api/live") as ws:
                await ws.send_str(json.dumps({"watch": [0, 1, 7, "x"]}))
                await asyncio.to_thread(wait_until, lambda: link.watch[0] and link.watch[1],
                                        timeout=WAIT_S, what="both cameras watched")
                await asyncio.to_thread(publish, link, 0, 5)
                await asyncio.to_thread(publish, link, 1, 9)
                got = [await ws.receive_bytes(timeout=WAIT_S) for _ in range(2)]
                await ws.send_str(json.dumps({"watch": [1]}))
                await asyncio.to_thread(wait_until, lambda: not link.watch[0],
                                        timeout=WAIT_S, what="camera 0 let go")
                return [(data[0], data[1:3]) for data in got]

        got = asyncio.run(asyncio.wait_for(watch(), WAIT_S))
        assert sorted(got) == [(0, b"\xff\xd8"), (1, b"\xff\xd8")]
        wait_until(lambda: not link.watch[1], timeout=WAIT_S, what="the viewer's cameras let go")


def test_a_viewer_that_never_reads_holds_nothing_but_its_counters(make_link: Any) -> None:
    """A WebSocket client that connects, asks for a camera and never reads: hundreds of
    pictures go by; the server keeps one picture per camera (the hub's), the client's state
    is one frame index per camera, and the preview ring stays within its slots, so neither
    memory nor the render process is affected (structural, not timed)."""
    link = make_link(size=(640, 480), max_width=640)
    with serve(link) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(b"0123456789abcdef").decode()
        sock.sendall((f"GET /api/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        sock.sendall(_masked_text(json.dumps({"watch": [0]})))
        wait_until(lambda: link.watch[0], timeout=WAIT_S, what="the camera watched")
        hub = server.state.previews
        for frame in range(300):
            publish(link, 0, frame)
            if frame % 10 == 0:
                hub.jpeg(0)
            assert link.previews[0].pending() <= link.previews[0].slots
        wait_until(lambda: (p := hub.jpeg(0)) is not None and p.frame == 299, timeout=WAIT_S,
                   what="the newest picture")
        clients = list(server._clients)
        assert len(clients) == 1 and set(clients[0].sent) == {0}
        assert hub.encoded <= 300  # at most once per picture, whoever watches
        sock.close()
        wait_until(lambda: not server._clients, timeout=WAIT_S, what="the viewer gone")


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def raw(port: int, request: bytes, *, source: str | None = None) -> bytes:
    """Send ``request`` as it is and read until the server closes (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S,
                                  source_address=(source, 0) if source else None) as sock:
        sock.sendall(request)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
        return got


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the log shows at the default level: warnings and errors (DEBUG may say more)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_auth_scheme_is_case_insensitive(console: ConsoleServer, scheme: str) -> None:
    assert get(console.url + "api/status", {"Authorization": f"{scheme} tok"})[0] == 200


@pytest.mark.parametrize(("spec", "header"), [
    ("tok", b"Bearer t\xffk"), ("tok", b"bearer \xc3\x28"), ("ops:pw", b"Basic \xff\xfe=="),
    ("ops:pw", b"Basic !!!"), ("ops:pw", b"Basic " + base64.b64encode(b"ops:\xff")),
])
def test_an_undecodable_authorization_is_a_401_without_a_traceback(
        make_link: Any, caplog: pytest.LogCaptureFixture, spec: str, header: bytes) -> None:
    with caplog.at_level(logging.DEBUG), serve(make_link(), auth=spec) as server:
        reply = raw(server.port, b"GET /api/status HTTP/1.1\r\nHost: x\r\nAuthorization: "
                    + header + b"\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 401"), reply[:80]
    assert errors(caplog) == []


@pytest.mark.parametrize("request_bytes", [
    b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(500)) + b"\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,   # TLS to an HTTP port
    b"GET / HTTP/1.1\r\nHost: x\r\nAuthor\xffization: x\r\n\r\n",
])
def test_oversized_or_malformed_requests_are_4xx_and_counted_not_logged(
        console: ConsoleServer, caplog: pytest.LogCaptureFixture, request_bytes: bytes) -> None:
    with caplog.at_level(logging.DEBUG):
        for _ in range(20):
            reply = raw(console.port, request_bytes)
            assert reply == b"" or reply[9:10] == b"4", reply[:80]
    assert errors(caplog) == []
    assert console.gate.counts().get("bad_request", 0) >= 1


def _upgrade(origin: str | None, host: str = "127.0.0.1") -> bytes:
    key = base64.b64encode(b"0123456789abcdef").decode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    return (f"GET /api/live HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: streampose_token=tok\r\n{extra}\r\n").encode()


def _status_line(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline()


def test_a_websocket_from_another_origin_is_refused(make_link: Any) -> None:
    with serve(make_link(), auth="tok", origins=frozenset({"https://ops.example:443"})) as server:
        here = f"127.0.0.1:{server.port}"
        assert b" 403 " in _status_line(server.port, _upgrade("http://evil.example", here))
        assert b" 403 " in _status_line(server.port, _upgrade("null", here))
        assert b" 101 " in _status_line(server.port, _upgrade(f"http://{here}", here))
        assert b" 101 " in _status_line(server.port, _upgrade("https://ops.example", here))
        assert b" 101 " in _status_line(server.port, _upgrade(None, here))
        assert server.gate.counts()["refused_origin"] == 2


def test_live_clients_are_capped_and_counted(make_link: Any) -> None:
    with serve(make_link(), auth="tok", max_streams=3, max_streams_per_address=2) as server:
        here = f"127.0.0.1:{server.port}"
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
                for _ in range(3)]
        try:
            lines = []
            for sock in held:
                sock.sendall(_upgrade(None, here))
                lines.append(sock.makefile("rb").readline())
            assert [b" 101 " in line for line in lines] == [True, True, False]
            assert b" 503 " in lines[2]
            other = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S,
                                             source_address=("127.0.0.2", 0))
            with other:
                other.sendall(_upgrade(None, here))
                assert b" 101 " in other.makefile("rb").readline()  # another address
                assert b" 503 " in _status_line(server.port, _upgrade(None, here))  # all 3
        finally:
            for sock in held:
                sock.close()
        _, _, body = get(server.url + "metrics", {"Authorization": "Bearer tok"})
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        refused = {s.labels.get("reason"): s.value
                   for s in families["streampose_console_refused"].samples}
        assert refused["streams"] == 2
        wait_until(lambda: server.gate.counts()["streams"] == 0, timeout=WAIT_S,
                   what="the live clients gone")
        assert get(server.url + "api/events", {"Authorization": "Bearer tok"}, stream=True)[0] \
            == 200


def test_event_loop_errors_are_logged_once_per_burst(console: ConsoleServer,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """What asyncio reports on the console's loop (as it did per failed accept()): one
    line with its traceback, then a count."""
    loop = console._loop
    assert loop is not None
    context = {"message": "socket.accept() out of system resource",
               "exception": OSError(24, "Too many open files")}
    with caplog.at_level(logging.DEBUG, logger="streampose.console"):
        for _ in range(1000):
            console._loop_error(loop, context)
        console.burst.flush(everything=True)
    lines = [r for r in caplog.records if r.name.startswith("streampose.console")]
    assert len(lines) == 2 and lines[0].exc_info is not None and lines[1].exc_info is None
    assert "999 more" in lines[1].getMessage()
