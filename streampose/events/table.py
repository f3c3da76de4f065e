"""Reading one rule's table (``[[events.line]]``, ``--line NAME:...``): keys, names, numbers.

Every reader raises :class:`~streampose.errors.ConfigError` with one line naming the rule
(``[[events.line]] 'door'``), the key and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from streampose.errors import ConfigError
from streampose.events.geometry import Point

__all__ = ["check_keys", "number", "points", "rule_name", "text"]


def rule_name(table: Mapping[str, Any], where: str) -> str:
    name = table.get("name")
    if not isinstance(name, str) or not name or not name.replace("_", "").replace(
            "-", "").isalnum():
        raise ConfigError(f"{where}: name = {name!r}: expected a non-empty name of letters, "
                          "digits, '-' and '_'")
    return name


def check_keys(table: Mapping[str, Any], known: Collection[str], where: str) -> None:
    unknown = [k for k in table if k not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))}; known keys: {', '.join(known)}")


def number(table: Mapping[str, Any], key: str, default: float, where: str, *,
           low: float = 0.0, high: float = math.inf, low_open: bool = False) -> float:
    """``table[key]`` (or ``default``) as a float in ``[low, high]`` (``(low, high]``)."""
    value = table.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ConfigError(f"{where}: {key} = {value!r}: expected a number in {interval}")
    return float(value)


def text(table: Mapping[str, Any], key: str, default: str | None,
         where: str) -> str | None:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{where}: {key} = {value!r}: expected a non-empty string")
    return value


def points(table: Mapping[str, Any], where: str, *, least: int,
           most: int | None = None) -> tuple[Point, ...]:
    """``points`` as ``[[x, y], ...]`` or flat ``[x1, y1, x2, y2, ...]`` (frame pixels)."""
    raw = table.get("points")
    flat = _flatten(raw)
    count = "exactly 2" if most == least else f"at least {least}"
    if flat is None or len(flat) % 2 or not least <= len(flat) // 2 <= (most or len(flat)):
        raise ConfigError(f"{where}: points = {raw!r}: expected {count} points in frame "
                          "pixels, [[x, y], ...] or x1,y1,x2,y2,...")
    return tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))


def _flatten(raw: Any) -> list[float] | None:
    if not isinstance(raw, list | tuple):
        return None
    flat: list[Any] = []
    for item in raw:
        if isinstance(item, list | tuple):
            if len(item) != 2:
                return None
            flat.extend(item)
        else:
            flat.append(item)
    good = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in flat)
    return [float(v) for v in flat] if good else None
