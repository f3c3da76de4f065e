"""The rules of an [events] section, built and checked (streampose.events.rules)."""

from __future__ import annotations

import pytest

from streampose.config.sections import EventsConfig
from streampose.errors import ConfigError
from streampose.events import FallRule, LineRule, ZoneRule, rules_from_config


def test_a_section_built_from_python_is_checked_when_its_rules_are_built() -> None:
    events = EventsConfig(line=({"name": "a", "points": [0, 0, 100, 0], "x": 1},))
    assert events.enabled  # the section holds tables; building the rules checks them
    with pytest.raises(ConfigError, match="unknown key 'x'"):
        rules_from_config(events)


def test_rules_in_order_lines_zones_fall() -> None:
    events = EventsConfig(zone=({"name": "z", "points": [0, 0, 50, 0, 50, 50]},), fall={},
                          line=({"name": "a", "points": [0, 0, 100, 0]},))
    assert rules_from_config(events) == (
        LineRule(name="a", a=(0.0, 0.0), b=(100.0, 0.0)),
        ZoneRule(name="z", polygon=((0.0, 0.0), (50.0, 0.0), (50.0, 50.0))),
        FallRule())
    assert rules_from_config(EventsConfig()) == ()


def test_a_line_and_a_zone_may_share_a_name_two_zones_may_not() -> None:
    zone = {"name": "door", "points": [0, 0, 50, 0, 50, 50]}
    shared = EventsConfig(line=({"name": "door", "points": [0, 0, 100, 0]},), zone=(zone,))
    assert [r.name for r in rules_from_config(shared)] == ["door", "door"]
    with pytest.raises(ConfigError, match="two zones named 'door'; names must be unique"):
        rules_from_config(EventsConfig(zone=(zone, zone)))
