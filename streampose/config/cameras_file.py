"""The cameras file: ``streampose run --cameras cameras.toml``.

A cameras file lists the cameras of one pipeline as ``[[camera]]`` tables, beside the
pipeline tables a ``--config`` file holds (``[model]``, ``[batching]``, ``[outputs]``,
``[mqtt]``, ``[live]``, ...), checked the same way (:mod:`streampose.config.toml`)::

    [model]
    path = "../shared/models/openpose-mnv2s-coco18.onnx"   # relative to the file
    [outputs]
    video = "recordings/{camera}.mp4"   # one file per camera

    [[camera]]
    name = "door"                       # unique: letters, digits, '_', '-', '.'
    url = "rtsp://user:pw@10.0.0.5/stream1"
    transport = "tcp"                   # RTSP only: tcp or udp
    [[camera]]
    name = "yard"
    url = "rtsp://10.0.0.6/live"
    record = false                      # no annotated MP4 for this one

:func:`load_cameras` reads one into a :class:`CamerasFile` (ConfigError naming the
file, the key and the value, credentials redacted); :func:`dump_cameras` writes one
back as TOML text that :func:`load_cameras` reads back equal. Relative paths (the
model, outputs, a camera that is a video file) are resolved against the file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streampose.config.camera import Camera, check_camera_url
from streampose.config.sections import SECTIONS
from streampose.config.toml import read_toml, resolve_path, table_values
from streampose.errors import ConfigError
from streampose.uri import is_url, is_webcam, redact

__all__ = ["CAMERA_TABLE", "Camera", "CamerasFile", "dump_cameras", "load_cameras",
           "redact_text"]

CAMERA_TABLE = "camera"  # [[camera]]
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")  # a TOML key written without quotes
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?!\[)[^\s'\"]+")  # not mqtt://[user:pass@]...


@dataclass(frozen=True)
class CamerasFile:
    """A cameras file: its cameras (names unique) and its pipeline tables.

    ``settings`` is ``{TABLE: {KEY: value}}`` for the pipeline tables the file sets, in
    the shape :func:`streampose.config.toml.load_pipeline_file` returns them (the file
    layer of :func:`streampose.config.build.build_config`).
    """

    cameras: tuple[Camera, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cameras", tuple(self.cameras))
        names = [c.name for c in self.cameras]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"two cameras named {', '.join(map(repr, twice))}; camera "
                              "names must be unique")
        unknown = [t for t in self.settings if t not in SECTIONS]
        if unknown:
            raise ConfigError(f"[{unknown[0]}]: not a pipeline table "
                              f"(known: {', '.join(SECTIONS)})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    def camera(self, name: str) -> Camera:
        """The camera called ``name`` (KeyError if none)."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)


_CAMERA_KEYS = tuple(f.name for f in dataclasses.fields(Camera))


def load_cameras(path: Path) -> CamerasFile:
    """The cameras file at ``path``; ConfigError (one line, naming the file, the key and
    the value, credentials redacted) when anything is wrong."""
    file = Path(path)
    try:
        return _load(file)
    except ConfigError as exc:
        raise ConfigError(redact_text(str(exc))) from None


def _load(file: Path) -> CamerasFile:
    data = read_toml(file, "cameras file")
    base = Path(os.path.abspath(file)).parent
    cameras: list[Camera] = []
    settings: dict[str, Any] = {}
    for name, value in data.items():
        if name == CAMERA_TABLE:
            cameras = _cameras(file, base, value)
        elif name in SECTIONS:
            settings[name] = table_values(file, base, name, value)
            _check_section(file, name, settings[name])
        else:
            raise ConfigError(f"{file}: {name}: unknown key{_hint(name)}; a cameras file "
                              f"holds [[{CAMERA_TABLE}]] tables and the pipeline tables "
                              f"{', '.join(f'[{t}]' for t in SECTIONS)}")
    try:
        return CamerasFile(cameras=tuple(cameras), settings=settings)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def _cameras(file: Path, base: Path, value: Any) -> list[Camera]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{file}: {CAMERA_TABLE}: expected [[{CAMERA_TABLE}]] tables, got "
                          f"{_type_name(value)}")
    cameras = []
    for index, table in enumerate(value, 1):
        where = f"{file}: [[{CAMERA_TABLE}]] #{index}"
        if isinstance(table.get("name"), str):
            where += f" ({table['name']!r})"
        for key in table:
            if key not in _CAMERA_KEYS:
                close = difflib.get_close_matches(key, _CAMERA_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{where}: {key}: unknown key{hint}; known keys of "
                                  f"[[{CAMERA_TABLE}]]: {', '.join(_CAMERA_KEYS)}")
        for key in ("name", "url"):
            if key not in table:
                raise ConfigError(f"{where}: {key} is missing")
        url = table["url"]
        if isinstance(url, str) and url and not _is_not_a_path(url):
            url = resolve_path(url, base)
        try:
            cameras.append(Camera(**{**table, "url": url}))
            check_camera_url(url)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return cameras


def _check_section(file: Path, table: str, values: Mapping[str, Any]) -> None:
    """The checks a section makes across its keys (e.g. an MQTT URL), with the file."""
    try:
        SECTIONS[table](**values)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


# --- writing -------------------------------------------------------------------------


def dump_cameras(cf: CamerasFile) -> str:
    """``cf`` as TOML text that :func:`load_cameras` reads back equal (paths are written
    as they are: a relative one is read relative to the file it is written to)."""
    lines: list[str] = []
    for table, values in cf.settings.items():
        lines += _dump_table(table, values)
        lines.append("")
    for cam in cf.cameras:
        lines.append(f"[[{CAMERA_TABLE}]]")
        for key in _CAMERA_KEYS:
            value = getattr(cam, key)
            if value is not None:
                lines.append(f"{key} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _dump_table(table: str, values: Mapping[str, Any]) -> list[str]:
    """``[table]`` with its plain keys, then its sub-tables: a dict option as
    ``[table.key]``, a tables option as ``[[table.key]]`` each."""
    lines = [f"[{table}]"]
    nested: list[str] = []
    for key, value in values.items():
        if value is None:
            continue  # TOML has no null: a key left out is its default
        if isinstance(value, Mapping):
            nested += ["", f"[{table}.{_key(key)}]"]
            nested += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif isinstance(value, list | tuple) and value and all(
                isinstance(v, Mapping) for v in value):
            for item in value:
                nested += ["", f"[[{table}.{_key(key)}]]"]
                nested += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
        elif isinstance(value, list | tuple) and not value and _is_tables(table, key):
            continue  # an empty list of tables is the default
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    return lines + nested


def _is_tables(table: str, key: str) -> bool:
    from streampose.config.fields import options  # the option's kind says

    return any(o.name == key and o.kind == "tables" for o in options(SECTIONS[table]))


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str | Path):
        return _string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to a cameras file")


def _string(text: str) -> str:
    """A TOML basic string."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# --- helpers -------------------------------------------------------------------------


def redact_text(text: str) -> str:
    """``text`` with the credentials of every URL in it hidden."""
    return _URL_IN_TEXT.sub(lambda m: redact(m.group()), text)


def _is_not_a_path(url: str) -> bool:
    return is_url(url) or is_webcam(url)


def _hint(name: str) -> str:
    known = [CAMERA_TABLE, *SECTIONS]
    if name in ("cameras", "sources"):
        return f" (cameras are [[{CAMERA_TABLE}]] tables with a name and a url)"
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    return {dict: "a table", list: "a list", bool: "a boolean", str: "a string",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)
