"""The rules of an ``[events]`` section, built and checked.

The configuration holds the rules as tables (``--line``/``--zone``/``--fall`` or a
pipeline file's ``[[events.line]]``, ``[[events.zone]]`` and ``[events.fall]``); the
command line builds them as soon as it has the configuration (a bad rule is one
ConfigError line, exit 2), a :class:`~streampose.Pipeline` when it validates, and the
render stage for its engines.
"""

from __future__ import annotations

from streampose.config.sections import EventsConfig
from streampose.errors import ConfigError
from streampose.events.engine import Rule
from streampose.events.fall import FallRule
from streampose.events.line import LineRule
from streampose.events.zone import ZoneRule

__all__ = ["rules_from_config"]


def rules_from_config(events: EventsConfig) -> tuple[Rule, ...]:
    """The rules of ``events``, checked (ConfigError naming the rule and the key; two
    lines or two zones of one name)."""
    rules: list[Rule] = [LineRule.from_table(t, "--line / [[events.line]]")
                         for t in events.line]
    rules += [ZoneRule.from_table(t, "--zone / [[events.zone]]") for t in events.zone]
    if events.fall is not None:
        rules.append(FallRule.from_table(events.fall, "--fall / [events.fall]"))
    for kind in (LineRule, ZoneRule):
        _check_unique([r.name for r in rules if isinstance(r, kind)],
                      kind.__name__.removesuffix("Rule").lower())
    return tuple(rules)


def _check_unique(names: list[str], kind: str) -> None:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"[events]: two {kind}s named {', '.join(map(repr, twice))}; names "
                          "must be unique")
