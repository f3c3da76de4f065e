"""The console's accept loop and connection protocol against hostile clients: fake slow
clients with short timeouts configured, floods of waiting connections, per-address caps,
accept() failing, and (in a subprocess under a low RLIMIT_NOFILE) descriptor exhaustion.
Every client here is bounded (timeouts) and the connections are closed by the test."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from streampose.console import listener as listener_module
from streampose.console.burst import BurstLog
from streampose.console.gate import Gate
from streampose.console.listener import Listener
from tests.console.test_server import WAIT_S, get, serve
from tests.support.shared import ROOT
from tests.support.waiting import wait_until

TOKEN = {"Authorization": "Bearer tok"}


def held(port: int, data: bytes = b"", *, source: str | None = None) -> socket.socket:
    """A client that sends ``data`` (maybe nothing) and then holds the connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S,
                                    source_address=(source, 0) if source else None)
    if data:
        sock.sendall(data)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (EOF or reset), waiting up to WAIT_S."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize("data", [b"", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x"])
def test_a_slow_header_client_is_closed_after_the_header_timeout(make_link: Any,
                                                                  data: bytes) -> None:
    with serve(make_link(), auth="tok", header_timeout_s=0.3) as server:
        with held(server.port, data) as slow:
            assert closed_by_server(slow)
        assert server.gate.counts()["header_timeout"] == 1
        assert get(server.url + "api/status", TOKEN)[0] == 200


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(make_link: Any) -> None:
    with serve(make_link(), auth="tok", idle_timeout_s=0.3) as server:
        with held(server.port, b"GET /api/status HTTP/1.1\r\nHost: x\r\n"
                               b"Authorization: Bearer tok\r\n\r\n") as idle:
            reply = idle.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200")
            while not closed_by_server(idle):
                pass  # the rest of the response, then the close
        wait_until(lambda: server.gate.counts().get("idle_timeout") == 1, timeout=WAIT_S,
                   what="the idle timeout counted")


def test_a_flood_of_waiting_connections_never_locks_out_a_real_client(make_link: Any) -> None:
    """More slow-header connections than the cap: the oldest waiting ones are shed, so a
    client that sends its request at once still gets in."""
    with serve(make_link(), auth="tok", max_connections=20, max_connections_per_address=20,
               header_timeout_s=60.0) as server:
        flood = [held(server.port, b"GET / HTTP/1.1\r\n") for _ in range(60)]
        try:
            assert get(server.url + "api/status", TOKEN)[0] == 200
            counts = server.gate.counts()
            assert counts["connections"] <= 20 and counts["shed"] >= 40
            assert sum(closed_by_server(s) for s in flood[:40]) == 40  # the oldest went
        finally:
            for sock in flood:
                sock.close()


def test_a_full_address_is_refused_at_accept_other_addresses_are_not(make_link: Any) -> None:
    with serve(make_link(), auth="tok", max_connections_per_address=2) as server:
        request = b"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n\r\n"
        streams = [held(server.port, request) for _ in range(2)]  # busy: never shed
        try:
            for sock in streams:
                assert sock.recv(12).startswith(b"HTTP/1.1 200")
            with held(server.port) as third:
                assert closed_by_server(third)
            assert server.gate.counts()["refused_address"] == 1
            with held(server.port, b"GET /api/status HTTP/1.1\r\nHost: x\r\nAuthorization: "
                      b"Bearer tok\r\nConnection: close\r\n\r\n", source="127.0.0.2") as other:
                assert other.recv(12).startswith(b"HTTP/1.1 200")
        finally:
            for sock in streams:
                sock.close()


class _Exhausted:
    """A listening socket whose accept() fails as when the process has no descriptor left."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> Any:
        raise OSError(errno.EMFILE, "Too many open files")


def test_accept_failures_are_logged_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate()
    listener = Listener(server=None, gate=gate,  # type: ignore[arg-type]
                        # one window for the whole burst however slow the machine: 26,000
                        # calls take seconds under load, more than the default window
                        burst=BurstLog(logging.getLogger("streampose.console.listener"),
                                       quiet_s=3600.0),
                        handler_options={})

    async def hammer() -> None:
        listener._loop = asyncio.get_running_loop()
        with socket.socket() as real:
            fake = _Exhausted(real)
            for _ in range(26_000):
                listener._accept(fake)  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="streampose.console"):
        asyncio.run(hammer())
    assert gate.counts()["accept_error"] == 26_000
    lines = [r for r in caplog.records if r.name.startswith("streampose.console")]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert "Too many open files" in lines[0].getMessage()


CHILD = ROOT / "tests" / "console" / "fd_child.py"


def test_client_load_never_takes_the_descriptors_the_run_needs(tmp_path: Any) -> None:
    """A console in a child process limited to 128 descriptors (64 kept in reserve), and
    400 connections that send half a request line and hold: the child can still open its
    summary, the token still gets /api/status, and the log holds a few lines, no
    traceback."""
    child = subprocess.Popen([sys.executable, str(CHILD), "128", "64"], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    flood: list[socket.socket] = []
    try:
        assert child.stdout is not None and child.stdin is not None
        port = int(child.stdout.readline())
        for _ in range(400):
            with contextlib.suppress(OSError):  # refused at accept: counted there
                flood.append(held(port, b"GET / HTTP/1.1\r\n"))
        time.sleep(0.5)
        assert get(f"http://127.0.0.1:{port}/api/status", TOKEN)[0] == 200
        summary = tmp_path / "summary.json"
        child.stdin.write(f"{summary}\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "wrote"
        assert summary.read_text() == "{}"
        free = int(child.stdout.readline())
        assert free >= 32, f"{free} descriptors left in the child"
    finally:
        for sock in flood:
            sock.close()
        try:
            _, err = child.communicate(timeout=WAIT_S)
        finally:
            child.kill()
    assert child.returncode == 0, err
    assert "Traceback" not in err and len(err.splitlines()) <= 10, err


@pytest.mark.parametrize(("first", "stream"), [
    (b"GET /api/live HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"GET /api/events?token=t HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"GET /api/live HTTP/1.1\r\nHost: x\r\n", False),        # not complete yet
    (b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n", False),
    (b"GET /api/liveX HTTP/1.1\r\n\r\n", False),
    (b"", False),
])
def test_which_requests_the_accept_loop_judges_as_live_clients(first: bytes,
                                                               stream: bool) -> None:
    assert listener_module._is_stream_request(first) is stream


def test_a_live_client_beyond_the_caps_is_answered_503_at_accept() -> None:
    """Structural: the request is consumed, the 503 written and the socket closed (so
    the client reads the answer, not a reset)."""
    ours, theirs = socket.socketpair()
    with theirs:
        request = b"GET /api/live HTTP/1.1\r\nHost: x\r\n\r\n"
        theirs.sendall(request)
        listener_module._busy(ours, len(request))
        reply = b""
        while chunk := theirs.recv(4096):
            reply += chunk
    status, _, body = reply.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in status
    assert f"Content-Length: {len(body)}".encode() in status
