"""Known models and weights resolution: explicit path > env var > cache > download.

The known model's URL is pointed at a local server on 127.0.0.1 (see test_download.py);
the cache is a tmp_path folder via $STREAMPOSE_CACHE, never the real ~/.cache.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from streampose.errors import ModelError
from streampose.models.registry import (
    KNOWN_MODELS,
    LIGHTWEIGHT_OPENPOSE_URL,
    KnownModel,
    cached_path,
    known_model,
    resolve_weights,
    weights_env_var,
)
from streampose.pose.skeleton import COCO18
from tests.support.http_server import PAYLOAD, PAYLOAD_SHA256, WRONG_SHA256, LocalServer, leftovers

NAME = "lightweight-openpose"
ENV_VAR = "STREAMPOSE_WEIGHTS_LIGHTWEIGHT_OPENPOSE"
FILENAME = "checkpoint_iter_370000.pth"


@pytest.fixture(autouse=True)
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache folder; no weights override from the environment."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("STREAMPOSE_CACHE", str(folder))
    monkeypatch.delenv(ENV_VAR, raising=False)
    return folder




def point_at(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str | None) -> KnownModel:
    """Make the known lightweight-openpose entry download ``url``."""
    model = dataclasses.replace(KNOWN_MODELS[NAME], url=url, sha256=sha256)
    monkeypatch.setitem(KNOWN_MODELS, NAME, model)
    return model


def cached_file(cache: Path) -> Path:
    return cache / NAME / FILENAME


# --- the registry itself ---------------------------------------------------------------------


def test_lightweight_openpose_entry():
    model = known_model(NAME)
    assert model.name == NAME
    assert model.filename == FILENAME
    assert model.url == LIGHTWEIGHT_OPENPOSE_URL
    assert model.url.startswith("https://") and model.url.endswith("/" + FILENAME)
    assert model.sha256 is None  # no published digest is known; none is invented
    assert model.architecture == "lightweight-openpose"
    assert model.description


def test_lightweight_openpose_spec_is_valid():
    spec = known_model(NAME).model_spec()
    assert spec.skeleton == COCO18.name
    assert (spec.input_layout, spec.color, spec.stride) == ("NCHW", "BGR", 8)
    assert spec.head == "paf"
    assert spec.head_options.heatmaps.count == COCO18.num_keypoints + 1
    assert spec.head_options.pafs.count == 2 * COCO18.num_limbs
    assert spec.normalise(128.0) == (0.0, 0.0, 0.0)
    assert spec.normalise(spec.pad_value) == (0.0, 0.0, 0.0)


def test_every_known_model_is_consistent():
    for name, model in KNOWN_MODELS.items():
        assert model.name == name
        assert model.filename and "/" not in model.filename
        assert model.sha256 is None or len(model.sha256) == 64
        model.model_spec()


def test_builtin_spec_by_name(monkeypatch: pytest.MonkeyPatch):
    model = dataclasses.replace(KNOWN_MODELS[NAME], spec="openpose-mnv2s-coco18")
    assert model.model_spec().name == "openpose-mnv2s-coco18"
    missing = dataclasses.replace(model, spec="no-such-spec")
    with pytest.raises(ModelError, match=r"no-such-spec.*built-in specs: .*openpose-mnv2s"):
        missing.model_spec()


def test_unknown_model_lists_known_names():
    with pytest.raises(ModelError, match=r"unknown model 'nope' \(known models: .*lightweight"):
        known_model("nope")
    with pytest.raises(ModelError, match=r"unknown model"):
        resolve_weights("nope")


def test_env_var_names():
    assert weights_env_var(NAME) == ENV_VAR
    assert weights_env_var("my.model-v2") == "STREAMPOSE_WEIGHTS_MY_MODEL_V2"


def test_streampose_cache_is_respected(cache: Path):
    assert cached_path(NAME) == cached_file(cache)


def test_import_is_light():
    code = (
        "import sys, streampose.models.registry\n"
        "heavy = {'torch', 'numpy', 'cv2', 'av', 'onnxruntime', 'urllib.request'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- download into the cache -----------------------------------------------------------------


def test_download_then_cache_hit(monkeypatch: pytest.MonkeyPatch, server: LocalServer, cache):
    point_at(monkeypatch, server.url("files", "weights.bin"), PAYLOAD_SHA256)
    calls: list[tuple[int, int | None]] = []
    path = resolve_weights(NAME, progress=lambda done, total: calls.append((done, total)))
    assert path == cached_file(cache)
    assert path.read_bytes() == PAYLOAD
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(server.requests) == 1

    assert resolve_weights(NAME) == path
    assert resolve_weights(NAME, allow_download=False) == path
    assert len(server.requests) == 1  # served from the cache, no HTTP


def test_cache_hit_without_known_checksum(monkeypatch: pytest.MonkeyPatch, server, cache):
    point_at(monkeypatch, server.url("files", "weights.bin"), None)
    cached_file(cache).parent.mkdir(parents=True)
    cached_file(cache).write_bytes(b"placed by hand")
    assert resolve_weights(NAME) == cached_file(cache)
    assert server.requests == []


def test_corrupt_cached_file_is_replaced(monkeypatch: pytest.MonkeyPatch, server, cache):
    point_at(monkeypatch, server.url("files", "weights.bin"), PAYLOAD_SHA256)
    cached_file(cache).parent.mkdir(parents=True)
    cached_file(cache).write_bytes(PAYLOAD[:1000])
    path = resolve_weights(NAME)
    assert path.read_bytes() == PAYLOAD
    assert len(server.requests) == 1
    assert leftovers(path.parent) == [FILENAME]


def test_corrupt_cached_file_offline(monkeypatch: pytest.MonkeyPatch, refused_url: str, cache):
    point_at(monkeypatch, refused_url, PAYLOAD_SHA256)
    cached_file(cache).parent.mkdir(parents=True)
    cached_file(cache).write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"cached copy is corrupt"):
        resolve_weights(NAME)


def test_bad_checksum_caches_nothing(monkeypatch: pytest.MonkeyPatch, server, cache):
    point_at(monkeypatch, server.url("files", "weights.bin"), WRONG_SHA256)
    with pytest.raises(ModelError, match=r"checksum mismatch") as info:
        resolve_weights(NAME)
    assert WRONG_SHA256 in str(info.value) and PAYLOAD_SHA256 in str(info.value)
    assert leftovers(cache / NAME) == []


def test_interrupted_download_caches_nothing(monkeypatch: pytest.MonkeyPatch, server, cache):
    point_at(monkeypatch, server.url("truncated", "weights.bin"), PAYLOAD_SHA256)
    with pytest.raises(ModelError, match=r"interrupted"):
        resolve_weights(NAME)
    assert leftovers(cache / NAME) == []


def test_http_404(monkeypatch: pytest.MonkeyPatch, server: LocalServer, cache):
    url = server.url("files", "missing.pth")
    point_at(monkeypatch, url, None)
    with pytest.raises(ModelError, match=r"HTTP 404") as info:
        resolve_weights(NAME)
    assert url in str(info.value)
    assert leftovers(cache / NAME) == []


def test_offline_message_says_what_to_do(monkeypatch: pytest.MonkeyPatch, refused_url, cache):
    point_at(monkeypatch, refused_url, None)
    with pytest.raises(ModelError) as info:
        resolve_weights(NAME)
    message = str(info.value)
    assert "\n" not in message
    for needed in (FILENAME, refused_url, str(cached_file(cache)), "--weights", ENV_VAR):
        assert needed in message
    assert "onnection refused" in message
    assert leftovers(cache / NAME) == []


def test_downloads_disabled(monkeypatch: pytest.MonkeyPatch, server: LocalServer, cache):
    point_at(monkeypatch, server.url("files", "weights.bin"), None)
    with pytest.raises(ModelError, match=r"downloads are disabled") as info:
        resolve_weights(NAME, allow_download=False)
    assert str(cached_file(cache)) in str(info.value)
    assert server.requests == []


# --- explicit path and environment variable --------------------------------------------------


def test_env_var_override(monkeypatch: pytest.MonkeyPatch, server, tmp_path: Path):
    point_at(monkeypatch, server.url("files", "weights.bin"), PAYLOAD_SHA256)
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"my weights")
    monkeypatch.setenv(ENV_VAR, str(mine))
    assert resolve_weights(NAME) == mine
    assert server.requests == []


def test_env_var_to_a_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.pth"))
    with pytest.raises(ModelError, match=rf"\${ENV_VAR} .*gone\.pth does not exist"):
        resolve_weights(NAME)


def test_explicit_path_wins(monkeypatch: pytest.MonkeyPatch, server, tmp_path: Path):
    point_at(monkeypatch, server.url("files", "weights.bin"), PAYLOAD_SHA256)
    explicit = tmp_path / "explicit.pth"
    explicit.write_bytes(b"explicit")
    from_env = tmp_path / "env.pth"
    from_env.write_bytes(b"env")
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert resolve_weights(NAME, weights=explicit) == explicit
    assert resolve_weights(NAME, weights=str(explicit)) == explicit
    assert server.requests == []


def test_missing_explicit_path(tmp_path: Path):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(ModelError, match=r"weights file .*nowhere\.pth does not exist"):
        resolve_weights(NAME, weights=missing)
    with pytest.raises(ModelError, match=r"is not a file"):
        resolve_weights(NAME, weights=tmp_path)

