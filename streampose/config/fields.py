"""One option = one dataclass field: its default, help, CLI flag and allowed range.

:func:`option` wraps :func:`dataclasses.field` and stores what the command line, the
TOML schema and validation need in the field's metadata (:class:`OptionMeta`), so adding
an option is one edit: a field in its section (:mod:`streampose.config.sections`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["OptionMeta", "meta_of", "option"]

META_KEY = "streampose"


@dataclass(frozen=True)
class OptionMeta:
    """What is known about one option besides its name, type and default.

    ``flag``: the long CLI flag (``--max-wait-ms``); ``None`` derives it from the field
    name, ``""`` means no CLI flag (TOML and Python API only). ``negate``: for a bool
    that defaults to True, the CLI flag that sets it False (``--no-tracking``).
    ``low``/``high``: inclusive range of a number; ``choices``: allowed strings;
    ``short``: a one-letter alias (``-o``).
    """

    help: str
    flag: str | None = None
    short: str | None = None
    negate: str | None = None
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    toml: bool = True


def option(default: Any = dataclasses.MISSING, *, help: str,
           default_factory: Callable[[], Any] | None = None, **meta: Any) -> Any:
    """A dataclass field carrying its :class:`OptionMeta`."""
    metadata = {META_KEY: OptionMeta(help=help, **meta)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def meta_of(f: dataclasses.Field[Any]) -> OptionMeta | None:
    """The field's OptionMeta, or None for a field that is not an option."""
    return f.metadata.get(META_KEY)
