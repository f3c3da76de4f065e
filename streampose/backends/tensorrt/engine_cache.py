"""The on-disk engine cache: key, file names, staleness, atomic writes (no TensorRT, no GPU).

``<cache_dir>/<model stem>-<key[:16]>.engine`` plus a sidecar ``.json`` holding the key
fields. The key is the SHA-256 of: the ONNX file's SHA-256, the GPU name and compute
capability, the TensorRT version, ``fp16``, the engine's max batch, the input name, layout
and H/W, and :data:`ENGINE_SCHEMA`; for INT8 engines also ``int8`` and the calibration
key's digest (absent from fp16/fp32 keys, whose digests stay as they were). (The
workspace size is not part of it: it changes speed, not results.) Files are written
atomically (a temporary file in the same folder, then ``os.replace``), engine first and
sidecar last, so a crash leaves no half-written engine that looks valid. An engine whose
sidecar is missing, unreadable or for another key is stale. The default folder is
``streampose.models.download.cache_dir() / "engines"`` (``~/.cache/streampose/engines``
when that module is absent). Old engines are not pruned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from streampose.backends.tensorrt.shapes import HW

__all__ = [
    "ENGINE_SCHEMA",
    "EngineKey",
    "atomic_write",
    "default_cache_dir",
    "engine_path",
    "read_engine",
    "sidecar_path",
    "stale_reason",
    "store_engine",
]

log = logging.getLogger(__name__)

ENGINE_SCHEMA = 1  # bump when the way engines are built changes

JSONValue = str | int | bool | list[int]


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on: any change means another engine file."""

    model_sha256: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    fp16: bool
    max_batch: int
    input_name: str
    input_layout: str
    input_hw: HW
    int8: bool = False
    calibration: str = ""  # the calibration key's digest (INT8 engines)
    schema: int = ENGINE_SCHEMA

    def fields(self) -> dict[str, JSONValue]:
        """The key as JSON-ready values (what the sidecar records); ``int8`` and
        ``calibration`` only for INT8 engines."""
        values: dict[str, JSONValue] = asdict(self)
        values["input_hw"] = list(self.input_hw)
        if not self.int8:
            del values["int8"], values["calibration"]
        return values

    @property
    def digest(self) -> str:
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """``streampose.models.download.cache_dir() / "engines"``, else ~/.cache/streampose/engines."""
    try:
        from streampose.models.download import cache_dir
    except ImportError:
        return Path.home() / ".cache" / "streampose" / "engines"
    return Path(cache_dir()) / "engines"


def engine_path(cache_dir: Path, model_stem: str, key: EngineKey) -> Path:
    """``<cache_dir>/<model stem>-<key digest[:16]>.engine``."""
    return Path(cache_dir) / f"{model_stem}-{key.digest[:16]}.engine"


def sidecar_path(engine: Path) -> Path:
    """The JSON file next to ``engine`` that records its key."""
    return engine.with_suffix(".json")


def stale_reason(engine: Path, key: EngineKey) -> str | None:
    """None when ``engine`` can be loaded for ``key``, else why it must be (re)built."""
    if not engine.is_file():
        return f"no cached engine {engine.name}"
    sidecar = sidecar_path(engine)
    try:
        recorded = json.loads(sidecar.read_text("utf-8"))
    except FileNotFoundError:
        return f"no sidecar {sidecar.name} (interrupted write?)"
    except (OSError, ValueError) as exc:
        return f"unreadable sidecar {sidecar.name}: {exc}"
    found = recorded.get("key") if isinstance(recorded, dict) else None
    if found != key.fields():
        return f"sidecar {sidecar.name} is for another key ({_key_changes(found, key)})"
    return None


def _key_changes(found: object, key: EngineKey) -> str:
    if not isinstance(found, dict):
        return "no key recorded"
    wanted = key.fields()
    changed = [f"{name}: {found.get(name)!r} -> {value!r}" for name, value in wanted.items()
               if found.get(name) != value]
    return ", ".join(changed) or "extra fields"


def atomic_write(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``.

    Readers see the old file or the whole new one, never a part; on failure the temporary
    file is removed and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def store_engine(engine: Path, plan: bytes, key: EngineKey, model_path: Path) -> None:
    """Engine first, sidecar last: a sidecar exists only next to a complete engine."""
    atomic_write(engine, plan)
    record = {"key": key.fields(), "digest": key.digest, "model": str(model_path),
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write(sidecar_path(engine), (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def read_engine(path: Path) -> bytes | None:
    """The bytes of a cached engine, or None (logged) when the file cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        log.warning("tensorrt: cannot read %s: %s", path, exc)
        return None
