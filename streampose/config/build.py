"""One PipelineConfig from layered values: a pipeline file's, then the command line's.

Both layers have the same shape, ``{"sources": [...], TABLE: {KEY: value}}``, as
:func:`streampose.config.toml.load_pipeline_file` and
:func:`streampose.config.arguments.given_values` return them. See ARCHITECTURE.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streampose.config.camera import Camera
from streampose.config.sections import HEAD_TABLE, SECTIONS, PipelineConfig
from streampose.errors import ConfigError

__all__ = ["Values", "build_config", "merge_values"]

Values = Mapping[str, Any]


def build_config(file_values: Values, cli_values: Values, *,
                 log_level: int = logging.WARNING,
                 cameras: tuple[Camera, ...] = (), seats: int | None = None) -> PipelineConfig:
    """The config of ``file_values`` with ``cli_values`` laid over them (the CLI wins);
    each section validates its values (ConfigError naming the option). ``cameras``: a
    cameras file's, which are then the sources (one each, in order); ``seats``: that
    many seats whose cameras may change while the run goes on."""
    merged = merge_values(file_values, cli_values)
    sections = {table: _section(table, merged.get(table, {})) for table in SECTIONS}
    sources = tuple(c.url for c in cameras) if cameras or seats else \
        tuple(merged.get("sources", ()))
    return PipelineConfig(sources=sources, log_level=log_level, cameras=tuple(cameras),
                          seats=seats, heads=merged.get(HEAD_TABLE, {}), **sections)


def merge_values(*layers: Values) -> dict[str, Any]:
    """The layers merged key by key, later ones winning; an empty ``sources`` list counts
    as not given, and a given one replaces the earlier list."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for name, value in layer.items():
            if name == "sources":
                if value:
                    merged["sources"] = list(value)
            elif name in SECTIONS:
                merged[name] = {**merged.get(name, {}), **value}
            elif name == HEAD_TABLE:
                merged[name] = _merge_heads(merged.get(name, {}), value)
            else:
                raise ConfigError(f"{name}: not a pipeline option (known: sources, "
                                  f"{', '.join(SECTIONS)})")
    return merged


def _merge_heads(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """``[head.<name>]`` tables merged key by key within each head, later ones winning."""
    return {**earlier, **{name: {**earlier.get(name, {}), **table}
                          for name, table in later.items()}}


def _section(table: str, values: dict[str, Any]) -> Any:
    section = SECTIONS[table]
    try:
        return section(**values)
    except TypeError as exc:  # an unknown key from a caller (the loaders reject them)
        raise ConfigError(f"[{table}]: {exc}") from None
