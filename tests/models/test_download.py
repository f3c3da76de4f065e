"""Weights downloads against a local HTTP server on 127.0.0.1
(tests.support.http_server.LocalServer, whose routes misbehave on purpose): atomic,
verified, clean failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.errors import ModelError
from streampose.models.download import cache_dir, download, sha256_of
from tests.support.http_server import PAYLOAD, PAYLOAD_SHA256, WRONG_SHA256, LocalServer, leftovers

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
