"""The command-line forms of the event rules, read into the tables a pipeline file holds.

``--line NAME:x1,y1,x2,y2`` and ``--zone NAME:x1,y1,x2,y2,x3,y3,...`` (frame pixels)
become ``{"name": NAME, "points": [x1, y1, ...]}``, the shape of one ``[[events.line]]``
or ``[[events.zone]]`` table. These readers never fail: what they cannot read is
passed on as it is, and the rule's own check (``streampose.events``) names what is wrong
in one line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["parse_line", "parse_zone"]


def parse_line(text: str) -> dict[str, Any]:
    """``NAME:x1,y1,x2,y2`` -> ``{"name": NAME, "points": [...]}``."""
    return _named_points(text)


def parse_zone(text: str) -> dict[str, Any]:
    """``NAME:x1,y1,x2,y2,x3,y3,...`` -> ``{"name": NAME, "points": [...]}``."""
    return _named_points(text)


def _named_points(text: str) -> dict[str, Any]:
    name, sep, coordinates = text.partition(":")
    if not sep:
        return {"name": "", "points": text}
    numbers = [_number(v.strip()) for v in coordinates.split(",")]
    return {"name": name.strip(), "points": numbers}


def _number(raw: str) -> Any:
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw
