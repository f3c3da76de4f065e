"""The command-line options of ``streampose run``, generated from the config sections.

Every option field with a CLI flag (:attr:`Option.flag`) becomes one argparse option:
``--batch`` sets ``batching.batch``. Defaults are ``argparse.SUPPRESS``, so the parsed
namespace holds only what was given, and :func:`given_values` returns it in the shape
:func:`streampose.config.build.build_config` layers over a pipeline file's values.
See ARCHITECTURE.md (configuration).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Collection
from pathlib import Path
from typing import Any

from streampose.config.fields import Option, options
from streampose.config.sections import SECTIONS

__all__ = ["add_config_arguments", "add_progress_arguments", "add_run_arguments",
           "cli_options", "given_values", "key_value"]

_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str, "template": str,
                          "path": Path}


def cli_options() -> list[Option]:
    """Every option that has a CLI flag, section by section."""
    return [opt for section in SECTIONS.values() for opt in options(section) if opt.flag]


def add_config_arguments(parser: argparse.ArgumentParser,
                         tables: Collection[str] | None = None) -> None:
    """Add one argument group per section (those in ``tables``; default all), one option
    per field with a flag."""
    for table, section in SECTIONS.items():
        if tables is not None and table not in tables:
            continue
        flagged = [opt for opt in options(section) if opt.flag]
        if not flagged:
            continue
        summary = (section.__doc__ or "").strip().splitlines()[0]
        group = parser.add_argument_group(f"[{table}]", summary.removeprefix(f"[{table}]: "))
        for opt in flagged:
            _add(group, opt)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``streampose run``: the config options (:func:`add_config_arguments`)
    and those about the command itself (sources, files, progress, logging)."""
    p.add_argument("sources", nargs="*", metavar="SOURCE", help=(
        "video file, image file, folder of images or glob, or a live camera: an rtsp://, "
        "rtsps:// or http(s):// URL (MJPEG, HLS, ...), a webcam as /dev/videoN or N"))
    p.add_argument("--config", type=Path, metavar="PIPELINE.toml",
                   help="pipeline config file (pipelines/*.toml); command-line options win")
    p.add_argument("--cameras", type=Path, metavar="CAMERAS.toml", help=(
        "cameras file: [[camera]] tables (name, url, transport, record, draw, blur_faces) "
        "and pipeline tables; its cameras are the sources, named as in the file; "
        "command-line options win over its tables, which win over those of --config "
        "PIPELINE.toml. With live cameras only, the file is watched: cameras added to it or "
        "removed from it are added or removed while the run goes on (also on SIGHUP)"))
    p.add_argument("--max-streams", type=int, metavar="N", help=(
        "seats for up to N cameras of the --cameras file at once, so that cameras "
        "can be added to the file while the run goes on (default: the file's cameras)"))
    add_progress_arguments(p)
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(default WARNING)")
    add_config_arguments(p)


def add_progress_arguments(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` and ``--progress-every S`` (a run's or an evaluation's)."""
    p.add_argument("--no-progress", action="store_true", help=(
        "no progress at all: no live status on a terminal, no progress lines elsewhere"))
    p.add_argument("--progress-every", type=_seconds, default=10.0, metavar="S", help=(
        "when stderr is not a terminal (a pipe, a log file): one progress line every S "
        "seconds; 0: none (default 10)"))


def given_values(args: argparse.Namespace) -> dict[str, Any]:
    """``{"sources": [...], TABLE: {KEY: value}}`` for what the command line gave."""
    values: dict[str, Any] = {}
    by_dest = {opt.dest: opt for opt in cli_options()}
    for dest, value in vars(args).items():
        opt = by_dest.get(dest)
        if opt is not None:
            values.setdefault(opt.table, {})[opt.name] = \
                dict(value) if opt.kind == "dict" else \
                tuple(value) if opt.kind == "tables" else value
    if getattr(args, "sources", None):
        values["sources"] = list(args.sources)
    return values


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as a bool, int, float or else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(raw)
        except ValueError:
            continue
    return key, raw


def _seconds(text: str) -> float:
    """A number of seconds >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be >= 0")
    return value


def _int_or_word(words: tuple[str, ...], text: str) -> int | str:
    """An integer, or one of ``words`` (argparse type of an ``int | str`` option)."""
    if text in words:
        return text
    try:
        return int(text)
    except ValueError:
        choices = " or ".join(map(repr, words))
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or {choices}") from None


def _int_or_text(text: str) -> int | str:
    """An integer, or else the text as given (argparse type of an ``int | str`` option
    taking a share ``N%``: the option's check says what is wrong with the text, as for a
    pipeline file)."""
    try:
        return int(text)
    except ValueError:
        return text


def _add(group: Any, opt: Option) -> None:  # an argparse argument group
    assert opt.flag is not None
    names = [opt.meta.short, opt.flag] if opt.meta.short else [opt.flag]
    group.add_argument(*names, dest=opt.dest, default=argparse.SUPPRESS, help=_help(opt),
                       **_kind_arguments(opt))


def _kind_arguments(opt: Option) -> dict[str, Any]:
    if opt.kind == "bool" and opt.optional:  # unset: decided from the run
        return {"action": argparse.BooleanOptionalAction}
    if opt.kind == "bool":
        return {"action": "store_false" if opt.meta.negate else "store_true"}
    if opt.kind == "tables":
        return {"action": "append", "type": opt.meta.parse, "metavar": opt.meta.metavar}
    if opt.meta.const is not None and opt.kind == "str":
        return {"nargs": "?", "const": opt.meta.const, "metavar": opt.meta.metavar}
    if opt.meta.const is not None:
        return {"action": "store_const", "const": opt.meta.const}
    if opt.kind == "dict":
        return {"action": "append", "type": key_value, "metavar": opt.meta.metavar}
    if opt.meta.choices:
        return {"type": _TYPES[opt.kind], "choices": opt.meta.choices}
    if opt.meta.percent is not None:
        return {"type": _int_or_text, "metavar": opt.meta.metavar}
    if opt.meta.words:
        return {"type": functools.partial(_int_or_word, opt.meta.words),
                "metavar": opt.meta.metavar}
    return {"type": _TYPES[opt.kind], "metavar": opt.meta.metavar or opt.name.upper()}


def _help(opt: Option) -> str:
    """The flag's help: what it does (a ``--no-*`` flag's own ``negate_help``), and the
    default of an option taking a value."""
    if opt.kind == "bool" and opt.meta.negate:
        return (opt.meta.negate_help or opt.meta.help).replace("%", "%%")
    text = opt.meta.help.replace("%", "%%")
    if opt.kind in ("int", "float", "str") and opt.default is not None:
        text += f" (default {opt.default})"
    return text
