"""Pipeline files: ``streampose run --config pipelines/NAME.toml``.

A pipeline file holds the options of ``streampose run``, grouped in optional tables for
readability. Every key maps to one CLI option destination (the ``dest`` of its argparse
option), all in one table, :data:`SCHEMA`, so the file format and the command line stay
in sync::

    sources = ["../media/street.mp4"]      # top level: what to read

    [model]
    path = "../models/openpose.onnx"       # -> model

    [outputs]
    video = "out/street_pose.mp4"          # -> video_out

:func:`load_pipeline_file` returns ``{dest: value}`` for the keys the file sets, after
checking each value's type; unknown tables and keys are rejected (the error names the
file, the key path such as ``[outputs].vidoe``, and the keys that table knows).
Relative paths are resolved against the file's folder, so a pipeline file works from any
working directory; URLs (``rtsp://...``) and webcam indices are left as they are.
:func:`merge_cli` lays the options given on the command line over the file's.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from streampose.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

__all__ = ["SCHEMA", "TOP_LEVEL", "Key", "load_pipeline_file", "merge_cli"]

Kind = Literal["str", "int", "float", "bool", "path", "path_template", "sources"]

TOP_LEVEL = ""  # the SCHEMA entry of keys outside any table


@dataclass(frozen=True)
class Key:
    """One pipeline-file key: the CLI option ``dest`` it sets and the kind of its value.

    Kinds: ``str``, ``int``, ``float`` (an integer is accepted), ``bool``; ``path`` (a
    string, resolved against the file's folder, returned as a ``Path`` as argparse's
    ``type=Path`` gives it); ``path_template`` (resolved, kept a ``str``: it may hold
    ``{stream}``); ``sources`` (a non-empty list of strings; local paths resolved,
    URLs and webcam indices kept). ``choices`` limits a ``str``.
    """

    dest: str
    kind: Kind
    choices: tuple[str, ...] = ()


# The one place the file format is defined: {table: {key: Key}}; "" is the top level.
SCHEMA: dict[str, dict[str, Key]] = {
    TOP_LEVEL: {
        "sources": Key("sources", "sources"),
    },
    "model": {
        "path": Key("model", "path"),
        "spec": Key("model_spec", "path"),
        "weights": Key("weights", "str"),
        "backend": Key("backend", "str"),
        "device": Key("device", "str"),
        "device_ops": Key("device_ops", "str", choices=("auto", "on", "off")),
        "threads": Key("threads", "int"),
        "height": Key("height", "int"),
    },
    "batching": {
        "batch": Key("batch", "int"),
        "max_wait_ms": Key("max_wait_ms", "float"),
    },
    "outputs": {
        "video": Key("video_out", "path_template"),
        "json": Key("json_out", "path"),
        "summary": Key("summary_out", "path"),
        "coco": Key("coco_out", "path"),
        "openpose_json": Key("openpose_dir", "path"),
        "metrics_port": Key("metrics_port", "int"),
        "metrics_host": Key("metrics_host", "str"),
    },
    "tracking": {
        "enabled": Key("tracking", "bool"),
    },
    "draw": {
        "ids": Key("ids", "bool"),
        "boxes": Key("boxes", "bool"),
        "blur_faces": Key("blur_faces", "bool"),
        "min_confidence": Key("min_confidence", "float"),
    },
    "live": {
        "rtsp_transport": Key("rtsp_transport", "str", choices=("tcp", "udp")),
        "open_timeout_s": Key("open_timeout_s", "float"),
        "read_timeout_s": Key("read_timeout_s", "float"),
        "stall_timeout_s": Key("stall_timeout_s", "float"),
        "reconnect": Key("reconnect", "bool"),
        "duration_s": Key("duration_s", "float"),
    },
    "performance": {
        "postprocess_workers": Key("postprocess_workers", "int"),
        "decode_threads": Key("decode_threads", "int"),
        "encoder_preset": Key("encoder_preset", "str"),
        "crf": Key("encoder_crf", "int"),
        "max_frames": Key("max_frames", "int"),
    },
}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_EXPECTED = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true or false",
    "path": "a non-empty path string", "path_template": "a non-empty path string",
    "sources": 'a non-empty list of strings, e.g. ["video.mp4"]',
}


def load_pipeline_file(path: str | Path) -> dict[str, Any]:
    """``{dest: value}`` for every key ``path`` sets; ConfigError when anything is wrong."""
    file = Path(path)
    data = _read_toml(file)
    base = Path(os.path.abspath(file)).parent
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in SCHEMA and name != TOP_LEVEL:
            values.update(_table(file, base, name, value))
        else:
            values.update(_entry(file, base, TOP_LEVEL, name, value))
    return values


def merge_cli(file_values: dict[str, Any], cli_values: dict[str, Any]) -> dict[str, Any]:
    """The file's values with the command line's laid over them (the command line wins).

    ``cli_values`` should hold only the options given on the command line; a ``None``
    or an empty ``sources`` list counts as not given, so argparse's ``None`` defaults and
    an optional positional may be passed as they are.
    """
    given = {dest: value for dest, value in cli_values.items() if _given(value)}
    return {**file_values, **given}


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, list | tuple) and not value)


def _read_toml(file: Path) -> dict[str, Any]:
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError(f"{file}: reading pipeline files on Python 3.10 needs the tomli "
                          "package (pip install tomli), or use Python 3.11+")
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{file}: pipeline file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read pipeline file: {exc.strerror or exc}") from exc
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise ConfigError(f"{file}: not a valid TOML file: {exc}") from exc


def _table(file: Path, base: Path, table: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: {table}: must be a table ([{table}]), "
                          f"got {_type_name(value)}")
    values: dict[str, Any] = {}
    for name, item in value.items():
        values.update(_entry(file, base, table, name, item))
    return values


def _entry(file: Path, base: Path, table: str, name: str, value: Any) -> dict[str, Any]:
    key = SCHEMA[table].get(name)
    where = _key_path(table, name)
    if key is None:
        raise ConfigError(f"{file}: {where}: unknown key{_hint(table, name)}; "
                          f"{_known(table)}")
    return {key.dest: _convert(file, where, key, value, base)}


def _convert(file: Path, where: str, key: Key, value: Any, base: Path) -> Any:
    if not _is_kind(value, key.kind):
        raise ConfigError(f"{file}: {where} = {value!r}: expected {_EXPECTED[key.kind]}, "
                          f"got {_type_name(value)}")
    if key.choices and value not in key.choices:
        raise ConfigError(f"{file}: {where} = {value!r}: must be one of "
                          f"{', '.join(map(repr, key.choices))}")
    if key.kind == "float":
        return float(value)
    if key.kind == "path":
        return Path(_resolve(value, base))
    if key.kind == "path_template":
        return _resolve(value, base)
    if key.kind == "sources":
        return [src if _is_not_a_path(src) else _resolve(src, base) for src in value]
    return value


def _is_kind(value: Any, kind: Kind) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "sources":
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    return isinstance(value, str) and (kind == "str" or bool(value))


def _resolve(value: str, base: Path) -> str:
    """``value`` against ``base`` unless absolute; a trailing separator (folder) is kept."""
    path = Path(value).expanduser()
    resolved = os.path.normpath(path if path.is_absolute() else base / path)
    return resolved + os.sep if value.endswith(("/", "\\")) else resolved


def _is_not_a_path(source: str) -> bool:
    """URLs (``rtsp://...``, ``http://...``) and webcam indices (``0``) are not paths."""
    return bool(_URL.match(source)) or source.isdigit()


def _key_path(table: str, name: str) -> str:
    return name if table == TOP_LEVEL else f"[{table}].{name}"


def _known(table: str) -> str:
    keys = ", ".join(SCHEMA[table])
    if table != TOP_LEVEL:
        return f"known keys of [{table}]: {keys}"
    tables = ", ".join(f"[{t}]" for t in SCHEMA if t != TOP_LEVEL)
    return f"known top-level keys: {keys}; tables: {tables}"


def _hint(table: str, name: str) -> str:
    """`` (it belongs in [outputs])`` or `` (did you mean 'video'?)``, or nothing."""
    homes = [t for t, keys in SCHEMA.items() if name in keys and t != table]
    if homes:
        return f" (it belongs in [{homes[0]}])" if homes[0] else " (it belongs at the top level)"
    close = difflib.get_close_matches(name, list(SCHEMA[table]), n=1)
    if table == TOP_LEVEL:
        close += difflib.get_close_matches(name, [t for t in SCHEMA if t], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {dict: "a table", list: "a list", bool: "a boolean", str: "a string",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)
