"""Weights downloads against a local HTTP server on 127.0.0.1: atomic, verified, clean failures.

The server (also used by test_registry.py) serves generated files under routes that
misbehave on purpose:

- ``/files/<name>``: the whole file, with its Content-Length;
- ``/truncated/<name>``: announces the full length, sends half, then closes;
- ``/reset/<name>``: sends half, then resets the connection;
- ``/stall/<name>``: sends the headers and a few bytes, then stalls;
- anything else: 404.
"""

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

import pytest

from streampose.errors import ModelError
from streampose.models.download import cache_dir, download, sha256_of

PAYLOAD = random.Random(1234).randbytes(1 << 20)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA256 = hashlib.sha256(b"something else").hexdigest()
_STALL_LIMIT_S = 5.0


@dataclass
class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread; see the module doc for its routes."""

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
        self.server.local.release.wait(_STALL_LIMIT_S)
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


# --- cache_dir / sha256_of -------------------------------------------------------------------


def test_cache_dir_prefers_streampose_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("STREAMPOSE_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"


def test_cache_dir_falls_back_to_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("STREAMPOSE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "streampose"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "streampose"


def test_cache_dir_ignores_empty_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("STREAMPOSE_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "streampose"


def test_sha256_of(tmp_path: Path):
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert sha256_of(path) == PAYLOAD_SHA256


# --- successful downloads --------------------------------------------------------------------


def test_download_verifies_and_reports_progress(server: LocalServer, tmp_path: Path):
    dest = tmp_path / "sub" / "folder" / "weights.bin"
    calls: list[tuple[int, int | None]] = []
    result = download(
        server.url("files", "weights.bin"),
        dest,
        sha256=PAYLOAD_SHA256,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["weights.bin"]
    assert calls[0] == (0, len(PAYLOAD))
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_download_without_checksum_and_uppercase_checksum(server: LocalServer, tmp_path: Path):
    url = server.url("files", "weights.bin")
    assert download(url, tmp_path / "a.bin", sha256=None).read_bytes() == PAYLOAD
    assert download(url, tmp_path / "b.bin", sha256=PAYLOAD_SHA256.upper()).exists()


def test_download_replaces_an_existing_file(server: LocalServer, tmp_path: Path):
    dest = tmp_path / "weights.bin"
    dest.write_bytes(b"old")
    download(server.url("files", "weights.bin"), dest, sha256=PAYLOAD_SHA256)
    assert dest.read_bytes() == PAYLOAD


# --- failures leave nothing behind -----------------------------------------------------------


def test_checksum_mismatch_names_both_digests(server: LocalServer, tmp_path: Path):
    dest = tmp_path / "weights.bin"
    with pytest.raises(ModelError) as info:
        download(server.url("files", "weights.bin"), dest, sha256=WRONG_SHA256)
    message = str(info.value)
    assert "checksum mismatch" in message
    assert WRONG_SHA256 in message and PAYLOAD_SHA256 in message
    assert "\n" not in message
    assert leftovers(tmp_path) == []


def test_checksum_mismatch_keeps_the_previous_file(server: LocalServer, tmp_path: Path):
    dest = tmp_path / "weights.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(ModelError):
        download(server.url("files", "weights.bin"), dest, sha256=WRONG_SHA256)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["weights.bin"]


def test_interrupted_transfer(server: LocalServer, tmp_path: Path):
    with pytest.raises(ModelError, match=r"interrupted after 524288 of 1048576 bytes"):
        download(server.url("truncated", "weights.bin"), tmp_path / "w.bin", sha256=None)
    assert leftovers(tmp_path) == []


def test_connection_reset(server: LocalServer, tmp_path: Path):
    with pytest.raises(ModelError, match=r"cannot download http://127\.0\.0\.1"):
        download(server.url("reset", "weights.bin"), tmp_path / "w.bin", sha256=PAYLOAD_SHA256)
    assert leftovers(tmp_path) == []


def test_stalled_transfer_times_out(server: LocalServer, tmp_path: Path):
    with pytest.raises(ModelError, match=r"timed out after 0\.2 s"):
        download(server.url("stall", "weights.bin"), tmp_path / "w.bin", sha256=None, timeout=0.2)
    assert leftovers(tmp_path) == []


def test_http_404(server: LocalServer, tmp_path: Path):
    url = server.url("files", "missing.bin")
    with pytest.raises(ModelError, match=r"HTTP 404") as info:
        download(url, tmp_path / "w.bin", sha256=None)
    assert url in str(info.value)
    assert leftovers(tmp_path) == []


def test_connection_refused(refused_url: str, tmp_path: Path):
    with pytest.raises(ModelError, match=r"[Cc]onnection refused") as info:
        download(refused_url, tmp_path / "w.bin", sha256=None, timeout=2.0)
    assert refused_url in str(info.value)
    assert leftovers(tmp_path) == []


def test_progress_callback_error_cleans_up(server: LocalServer, tmp_path: Path):
    def explode(done: int, total: int | None) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(server.url("files", "weights.bin"), tmp_path / "w.bin", sha256=None,
                 progress=explode)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("bad", ["abc", "z" * 64, PAYLOAD_SHA256 + "0"])
def test_malformed_checksum_is_rejected_before_any_request(
    server: LocalServer, tmp_path: Path, bad: str
):
    with pytest.raises(ModelError, match=r"invalid sha256"):
        download(server.url("files", "weights.bin"), tmp_path / "w.bin", sha256=bad)
    assert server.requests == []
    assert leftovers(tmp_path) == []


def test_unsupported_scheme(tmp_path: Path):
    with pytest.raises(ModelError, match=r"unsupported URL scheme 'ftp'"):
        download("ftp://127.0.0.1/weights.bin", tmp_path / "w.bin", sha256=None)
    assert leftovers(tmp_path) == []
