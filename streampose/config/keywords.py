"""A PipelineConfig from Python keywords: ``config_of(["in.mp4"], model="m.onnx",
max_frames=50, tracking=False)``.

A keyword is an option's command-line flag without its dashes, ``-`` read as ``_``
(``--max-frames`` -> ``max_frames``, ``--json`` -> ``json``); a bool option whose flag
turns it off (``--no-tracking``) is named without ``no_`` and given ``True`` or ``False``
(``tracking=False``). A section's name given a table (a dict) or a section object sets
that section (``draw={"boxes": True}``, ``batching=BatchingConfig(batch=4)``); keywords
of its options are applied on top.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streampose.config.build import build_config
from streampose.config.fields import Option, Section, options
from streampose.config.sections import SECTIONS, PipelineConfig
from streampose.errors import ConfigError

__all__ = ["config_of", "keyword_options"]


def keyword_options() -> dict[str, Option]:
    """Every option with a command-line flag, by its keyword."""
    found: dict[str, Option] = {}
    for section in SECTIONS.values():
        for opt in options(section):
            if opt.flag is not None:
                found[_keyword(opt)] = opt
    return found


def _keyword(opt: Option) -> str:
    flag = opt.flag or ""
    if opt.kind == "bool" and opt.meta.negate:
        flag = "--" + flag.removeprefix("--no-")
    return flag.removeprefix("--").replace("-", "_")


def config_of(sources: str | Path | Sequence[str | Path], *, model: str | Path,
              log_level: int = logging.WARNING, **keywords: Any) -> PipelineConfig:
    """The config of ``sources`` (one, or a list: files, folders, URLs) run with ``model``
    and ``keywords`` (see the module docstring); ConfigError naming an unknown keyword."""
    listed = [sources] if isinstance(sources, str | Path) else list(sources)
    tables: dict[str, dict[str, Any]] = {}
    for name, value in keywords.items():
        if name in SECTIONS and isinstance(value, Mapping | Section):
            tables[name] = {**_table(value), **tables.get(name, {})}
        else:
            opt = _option(name)
            tables.setdefault(opt.table, {})[opt.name] = value
    tables.setdefault("model", {}).setdefault("path", Path(model))
    values = {"sources": [str(s) for s in listed], **tables}
    return build_config({}, values, log_level=log_level)


def _table(value: Mapping[str, Any] | Section) -> dict[str, Any]:
    if isinstance(value, Section):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(value)


def _option(name: str) -> Option:
    found = keyword_options()
    if name not in found:
        raise ConfigError(f"stream(): unknown option {name}= (options are the command "
                          "line's flags as keywords, e.g. max_frames=50, json='out.jsonl', "
                          f"tracking=False; or a section: {', '.join(SECTIONS)})")
    return found[name]
