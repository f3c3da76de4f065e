"""Pipeline files: ``streampose run --config pipelines/NAME.toml``.

A pipeline file holds the options of ``streampose run``: ``sources`` at the top level,
every other option in the table of its section, under its field name. The schema
(:data:`SCHEMA`) is generated from the sections (:mod:`streampose.config.sections`),
so the file format, the command line and the Python API stay in sync::

    sources = ["../media/street.mp4"]      # top level: what to read

    [model]
    path = "../models/openpose.onnx"       # -> PipelineConfig.model.path

    [outputs]
    video = "out/street_pose.mp4"          # -> PipelineConfig.outputs.video

:func:`load_pipeline_file` returns ``{"sources": [...], TABLE: {KEY: value}}`` for the
keys the file sets, after checking each value's type and range; unknown tables and keys
are rejected (the error names the file, the key path such as ``[outputs].vidoe``, and
the keys that table knows). ``[head.<name>]`` tables are a head's own options, kept as
written under ``"head"`` (the head checks them, see ``Head.parse_settings``). Relative
paths are resolved against the file's folder, so a pipeline file works from any working
directory; URLs (``rtsp://...``) and webcam indices are left as they are. See
ARCHITECTURE.md (configuration).
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any

from streampose.config.fields import Option, options
from streampose.config.sections import HEAD_TABLE, SECTIONS
from streampose.errors import ConfigError
from streampose.uri import is_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

__all__ = ["SCHEMA", "TOP_LEVEL", "load_pipeline_file", "read_toml", "resolve_path",
           "table_values"]

TOP_LEVEL = ""  # the SCHEMA entry of keys outside any table
SOURCES = "sources"  # the one top-level key
MODEL_PATH = "[model].path"  # a model name there is not a path (see _is_model_name)

# {table: {key: Option}}; the top level's only key, sources, has no Option (None).
SCHEMA: dict[str, dict[str, Option | None]] = {
    TOP_LEVEL: {SOURCES: None},
    **{table: {opt.name: opt for opt in options(section) if opt.meta.toml}
       for table, section in SECTIONS.items()},
}

_EXPECTED = {"path": "a non-empty path string", "template": "a non-empty path string"}
_SOURCES_EXPECTED = 'a non-empty list of strings, e.g. ["video.mp4"]'


def load_pipeline_file(path: str | Path) -> dict[str, Any]:
    """``{"sources": [...], TABLE: {KEY: value}}`` for every key ``path`` sets;
    ConfigError when anything is wrong."""
    file = Path(path)
    data = read_toml(file)
    base = Path(os.path.abspath(file)).parent
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name == HEAD_TABLE:
            values[name] = head_tables(file, value)
        elif name in SCHEMA and name != TOP_LEVEL:
            values[name] = table_values(file, base, name, value)
        else:
            _unknown_unless_known(file, TOP_LEVEL, name)
            values[SOURCES] = _sources(file, value, base)
    return values


def read_toml(file: Path, what: str = "pipeline file") -> dict[str, Any]:
    """The parsed TOML of ``file`` (``what`` names the kind of file in errors)."""
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError(f"{file}: reading {what}s on Python 3.10 needs the tomli "
                          "package (pip install tomli), or use Python 3.11+")
    try:
        with file.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except FileNotFoundError:
        raise ConfigError(f"{file}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read {what}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # TOMLDecodeError, or bytes that are not UTF-8
        raise ConfigError(f"{file}: not a valid TOML file: {exc}") from exc


def table_values(file: Path, base: Path, table: str, value: Any) -> dict[str, Any]:
    """``{KEY: value}`` of one pipeline table ``[table]`` read from ``file``, each value
    checked (type, choices, range) and its paths resolved against ``base``."""
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: {table}: must be a table ([{table}]), "
                          f"got {_type_name(value)}")
    values: dict[str, Any] = {}
    for name, item in value.items():
        _unknown_unless_known(file, table, name)
        opt = SCHEMA[table][name]
        assert opt is not None
        values[name] = _convert(file, opt, item, base)
    return values


def head_tables(file: Path, value: Any) -> dict[str, dict[str, Any]]:
    """``{name: {key: value}}`` of the ``[head.<name>]`` tables of ``file``, as written
    (each head checks its own); ConfigError unless ``[head]`` holds only tables."""
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise ConfigError(f"{file}: [{HEAD_TABLE}]: must hold one table per head "
                          f"([{HEAD_TABLE}.<name>]), got {_type_name(value)}")
    return {name: dict(table) for name, table in value.items()}


def _unknown_unless_known(file: Path, table: str, name: str) -> None:
    if name not in SCHEMA[table]:
        raise ConfigError(f"{file}: {_key_path(table, name)}: unknown key"
                          f"{_hint(table, name)}; {_known(table)}")


def _convert(file: Path, opt: Option, value: Any, base: Path) -> Any:
    where = opt.key
    if not _is_kind(value, opt):
        expected = _EXPECTED.get(opt.kind, opt.expected)
        raise ConfigError(f"{file}: {where} = {value!r}: expected {expected}, "
                          f"got {_type_name(value)}")
    if opt.meta.choices and value not in opt.meta.choices:
        raise ConfigError(f"{file}: {where} = {value!r}: must be one of "
                          f"{', '.join(map(repr, opt.meta.choices))}")
    if opt.kind in ("path", "template") and not _is_model_name(opt, value, base):
        value = resolve_path(value, base)
    try:
        return opt.check(value)  # ranges; an int becomes a float, a path a Path
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _is_model_name(opt: Option, value: str, base: Path) -> bool:
    """``[model].path`` as a model or network name (no folder, no ``.onnx``, no such file
    beside the pipeline file) is kept as written: ``--model`` finds it by name."""
    if opt.key != MODEL_PATH or any(sep in value for sep in ("/", "\\", os.sep)):
        return False
    return not value.lower().endswith(".onnx") and not (base / value).is_file()


def _is_kind(value: Any, opt: Option) -> bool:
    """TOML's stricter view: paths are non-empty strings, tables hold plain values."""
    if opt.kind in ("path", "template"):
        return isinstance(value, str) and bool(value)
    if opt.kind == "dict":
        return isinstance(value, dict) and not any(isinstance(v, dict | list)
                                                   for v in value.values())
    if opt.kind == "tables":  # [[TABLE.KEY]]: tables of plain values and lists of them
        return isinstance(value, list) and all(
            isinstance(t, dict) and not any(isinstance(v, dict) for v in t.values())
            for t in value)
    return opt.accepts(value)


def _sources(file: Path, value: Any, base: Path) -> list[str]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{file}: {SOURCES} = {value!r}: expected {_SOURCES_EXPECTED}, "
                          f"got {_type_name(value)}")
    return [src if _is_not_a_path(src) else resolve_path(src, base) for src in value]


def resolve_path(value: str, base: Path) -> str:
    """``value`` against ``base`` unless absolute; a trailing separator (folder) is kept."""
    path = Path(value).expanduser()
    resolved = os.path.normpath(path if path.is_absolute() else base / path)
    return resolved + os.sep if value.endswith(("/", "\\")) else resolved


def _is_not_a_path(source: str) -> bool:
    """URLs (``rtsp://...``, ``http://...``) and webcam indices (``0``) are not paths."""
    return is_url(source) or source.isdigit()


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
