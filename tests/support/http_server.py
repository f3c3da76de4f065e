"""A misbehaving local HTTP server for downloads (127.0.0.1), its payload, and a URL that
refuses connections."""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAYLOAD = random.Random(1234).randbytes(1 << 20)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA256 = hashlib.sha256(b"something else").hexdigest()
STALL_LIMIT_S = 5.0  # the ``stall`` route gives up after this long


@dataclass
class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread, serving ``files`` under routes that
    misbehave on purpose:

    - ``/files/<name>``: the whole file, with its Content-Length;
    - ``/truncated/<name>``: announces the full length, sends half, then closes;
    - ``/reset/<name>``: sends half, then resets the connection;
    - ``/stall/<name>``: sends the headers and a few bytes, then stalls;
    - anything else: 404.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    httpd: ThreadingHTTPServer | None = None

    def url(self, route: str, name: str) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{route}/{name}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        local = self.server.local
        local.requests.append(self.path)
        route, _, name = self.path.strip("/").partition("/")
        body = local.files.get(name)
        if body is None or route not in ("files", "truncated", "reset", "stall"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        getattr(self, f"_send_{route}")(body)

    def _send_files(self, body: bytes) -> None:
        self.wfile.write(body)

    def _send_truncated(self, body: bytes) -> None:
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def _send_reset(self, body: bytes) -> None:
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        # Linger 0: close() sends a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _send_stall(self, body: bytes) -> None:
        self.wfile.write(body[:100])
        self.wfile.flush()
        self.server.local.release.wait(STALL_LIMIT_S)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, local: LocalServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.local = local


@contextmanager
def running_server(files: dict[str, bytes]) -> Iterator[LocalServer]:
    """A LocalServer serving ``files`` (name -> content) while the block runs."""
    local = LocalServer(files=files)
    httpd = _Server(local)
    local.httpd = httpd
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield local
    finally:
        local.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def refusing_url() -> Iterator[str]:
    """A URL on a loopback port that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/files/weights.bin"


def leftovers(folder: Path) -> list[str]:
    """Names of the files in ``folder`` (none expected after a failed download)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
