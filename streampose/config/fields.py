"""One option = one dataclass field: its default, help, CLI flag and allowed range.

:func:`option` wraps :func:`dataclasses.field` and stores what the command line, the
TOML schema and validation need in the field's metadata (:class:`OptionMeta`), so adding
an option is one edit: a field in its section (:mod:`streampose.config.sections`).
:func:`options` reads a section's fields back as :class:`Option` objects, which know
their kind, their name as the user knows it (``--batch / [batching].batch``) and how
to check a value; :class:`Section` makes every section validate itself with them.
See ARCHITECTURE.md (configuration).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from streampose.errors import ConfigError

__all__ = ["Option", "OptionMeta", "Section", "meta_of", "option", "options", "percent_of"]

META_KEY = "streampose"

Kind = Literal["bool", "int", "float", "str", "path", "template", "dict", "tables"]
_KINDS: dict[Any, Kind] = {bool: "bool", int: "int", float: "float", str: "str",
                           Path: "path", dict: "dict", tuple: "tables"}
_EXPECTED: dict[Kind, str] = {
    "bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
    "path": "a path", "template": "a path string", "dict": "a table of KEY = value",
    "tables": "a list of tables ([[TABLE.KEY]])"}
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")  # 11%, 7.5%


@dataclass(frozen=True)
class OptionMeta:
    """What is known about one option besides its name, type and default.

    ``help``: what the option is (the TOML key), also the CLI flag's help.
    ``flag``: the long CLI flag (``--max-wait-ms``); ``None`` derives it from the field
    name, ``""`` means no CLI flag (TOML and Python API only). ``negate``: for a bool
    that defaults to True, the CLI flag that sets it False (``--no-tracking``), and
    ``negate_help`` what that flag does, said plainly (``no person ids: ...``).
    ``low``/``high``: range of a number, inclusive unless ``low_open``/``high_open``;
    ``choices``: allowed strings; ``short``: a one-letter alias (``-o``); ``path``: a
    ``str`` option that is a path (resolved against a pipeline file's folder, kept a
    string because it may hold ``{stream}``); ``toml``: False keeps it out of files.
    ``parse``: how the CLI reads one value of a ``tables`` option (its flag is
    repeatable, one table each); ``const``: the flag takes no argument and sets this
    value (``--fall`` sets ``{}``: the fall rule with its default thresholds); for a
    ``str`` option the argument is optional and ``const`` is the value without one
    (``--mqtt-discovery [PREFIX]``). ``words``: strings an ``int | str`` option takes
    besides its integers (``--interval auto``); the field's type is then ``int | str``.
    ``percent``: the range, in percent, of the share an ``int | str`` option also takes
    written ``N%`` (``--min-person-height 11%``: of the frame's height), its integers
    keeping ``low``/``high``; what the share is of is the reader's business
    (:func:`percent_of` reads it).
    """

    help: str
    flag: str | None = None
    short: str | None = None
    negate: str | None = None
    negate_help: str | None = None
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    path: bool = False
    toml: bool = True
    parse: Callable[[str], Any] | None = None
    const: Any = None
    words: tuple[str, ...] = ()
    percent: tuple[float, float] | None = None


def percent_of(value: object) -> float | None:
    """The percentage of a share written ``N%`` (``"7.5%"`` -> 7.5); None for anything
    else (an integer, a word, malformed text)."""
    match = _PERCENT.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


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


@dataclass(frozen=True)
class Option:
    """One option of a section, as the CLI, the TOML schema and validation see it."""

    table: str
    name: str
    kind: Kind
    optional: bool
    default: Any
    meta: OptionMeta

    @property
    def flag(self) -> str | None:
        """The CLI flag that sets it (``--batch``, ``--no-ids``), or None (TOML only)."""
        if self.meta.flag == "":
            return None
        if self.kind == "bool" and self.meta.negate:
            return self.meta.negate
        return self.meta.flag or "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        """Its place in a pipeline file: ``[batching].batch``."""
        return f"[{self.table}].{self.name}"

    @property
    def dest(self) -> str:
        """Its argparse destination: ``batching.batch``."""
        return f"{self.table}.{self.name}"

    @property
    def label(self) -> str:
        """How the user knows it: ``--batch / [batching].batch``."""
        names = [self.flag, self.key if self.meta.toml else None]
        return " / ".join(n for n in names if n)

    @property
    def expected(self) -> str:
        if self.meta.percent is not None:  # both forms with their ranges
            return f"{_EXPECTED[self.kind]} in {self.interval} or {self._percent_form}"
        words = [repr(w) for w in self.meta.words]
        return " or ".join([_EXPECTED[self.kind], *words])

    @property
    def percent_interval(self) -> str:
        """``[0.5%, 100%]``: the shares a ``percent`` option takes."""
        assert self.meta.percent is not None
        low, high = self.meta.percent
        return f"[{_num(low)}%, {_num(high)}%]"

    @property
    def _percent_form(self) -> str:
        return f"a percentage N% in {self.percent_interval}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has the option's type (None aside; an int is a fine float)."""
        return self.is_word(value) or self.is_percent(value) or _is_kind(value, self.kind)

    def is_percent(self, value: Any) -> bool:
        """Whether ``value`` is a share written ``N%`` that the option takes (any range)."""
        return self.meta.percent is not None and percent_of(value) is not None

    def is_word(self, value: Any) -> bool:
        """Whether ``value`` is one of the option's words (``auto``)."""
        return isinstance(value, str) and value in self.meta.words

    def check(self, value: Any) -> Any:
        """``value`` if allowed (an int made a float, a str a Path); else ConfigError."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{self.label}: None is not allowed; expected {self.expected}")
        if not self.accepts(value):
            raise ConfigError(f"{self.label}: {value!r} is not {self.expected}")
        if self.meta.choices and value not in self.meta.choices:
            raise ConfigError(f"{self.label}: {value!r} is not one of "
                              f"{', '.join(map(repr, self.meta.choices))}")
        if self.is_word(value):
            return value
        if self.is_percent(value):
            return self._check_percent(value)
        if self.kind in ("int", "float") and not self.in_range(value):
            raise ConfigError(f"{self.label}: {value!r} is outside the allowed range "
                              f"{self.interval}{self._or_percent()}")
        return _coerce(value, self.kind)

    def _check_percent(self, value: str) -> str:
        """``value`` (``N%``) if N is in the option's ``percent`` range; else ConfigError."""
        share = percent_of(value)
        assert self.meta.percent is not None and share is not None
        low, high = self.meta.percent
        if not low <= share <= high:
            raise ConfigError(f"{self.label}: {value!r} is outside the allowed range "
                              f"{self.percent_interval} (or {_EXPECTED[self.kind]} in "
                              f"{self.interval})")
        return value

    def _or_percent(self) -> str:
        """`` (or a percentage N% in [0.5%, 100%])`` for a ``percent`` option."""
        return "" if self.meta.percent is None else f" (or {self._percent_form})"

    def in_range(self, value: float) -> bool:
        low, high, meta = self.meta.low, self.meta.high, self.meta
        if math.isnan(value):
            return low is None and high is None
        above = low is None or (value > low if meta.low_open else value >= low)
        below = high is None or (value < high if meta.high_open else value <= high)
        return above and below

    @property
    def interval(self) -> str:
        """``[1, 256]``, ``(0, 1]``, ``[2, inf)``."""
        low, high = self.meta.low, self.meta.high
        left = "(-inf" if low is None else ("(" if self.meta.low_open else "[") + _num(low)
        right = "inf)" if high is None else _num(high) + (")" if self.meta.high_open else "]")
        return f"{left}, {right}"


class Section:
    """Base of the config sections: validates every option field after ``__init__``.

    Subclasses are frozen dataclasses with a ``table`` class variable (their TOML
    table, e.g. ``"batching"``); add a ``__post_init__`` calling ``super()`` for checks
    that involve several fields.
    """

    table: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass

    def __post_init__(self) -> None:
        for opt in options(type(self)):
            value = getattr(self, opt.name)
            checked = opt.check(value)
            if checked is not value:
                object.__setattr__(self, opt.name, checked)


def options(section: type[Section]) -> tuple[Option, ...]:
    """The options of a section class, in field order."""
    if section not in _OPTIONS:
        _OPTIONS[section] = _read_options(section)
    return _OPTIONS[section]


_OPTIONS: dict[type, tuple[Option, ...]] = {}


def _read_options(section: type[Section]) -> tuple[Option, ...]:
    hints = typing.get_type_hints(section)
    found = []
    for f in dataclasses.fields(section):
        meta = meta_of(f)
        if meta is None:
            continue
        kind, optional = _kind_of(hints[f.name], meta)
        if meta.negate and not meta.negate_help:
            raise TypeError(f"option {section.table}.{f.name}: {meta.negate} needs a "
                            "negate_help saying what the flag does")
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        found.append(Option(table=section.table, name=f.name, kind=kind, optional=optional,
                            default=default, meta=meta))
    return tuple(found)


def _kind_of(hint: Any, meta: OptionMeta) -> tuple[Kind, bool]:
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    # int | str: an int, or one of its words, or a share N%
    if (meta.words or meta.percent) and str in typing.get_args(hint):
        hint = next(a for a in typing.get_args(hint) if a is not str)
    base = typing.get_origin(hint) or hint
    if base not in _KINDS:
        raise TypeError(f"option type {hint!r} is not one of bool, int, float, str, Path, "
                        "dict, tuple of dicts (or those | None)")
    kind = _KINDS[base]
    return ("template" if kind == "str" and meta.path else kind), optional


def _is_kind(value: Any, kind: Kind) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "path":
        return isinstance(value, str | Path)
    if kind == "dict":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if kind == "tables":
        return isinstance(value, list | tuple) and all(_is_kind(v, "dict") for v in value)
    return isinstance(value, str)


def _coerce(value: Any, kind: Kind) -> Any:
    if kind == "float" and not isinstance(value, float):
        return float(value)
    if kind == "path" and not isinstance(value, Path):
        return Path(value)
    if kind == "tables" and not isinstance(value, tuple):
        return tuple(value)
    return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)
