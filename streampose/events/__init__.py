"""Pose events per camera: line crossings, zones (enter, leave, dwell), falls.

Rules (:class:`LineRule`, :class:`ZoneRule`, :class:`FallRule`) come from the
``[events]`` table or the ``--line``/``--zone``/``--fall`` flags
(:func:`rules_from_config`); the render stage runs
one :class:`EventEngine` per stream on the tracked poses and hands the
:class:`Event` s to the sinks that want them (``--events OUT.jsonl``, MQTT, the console).
"""

from streampose.events.engine import EventEngine, Rule
from streampose.events.event import Event
from streampose.events.fall import FallRule
from streampose.events.line import LineRule
from streampose.events.rules import rules_from_config
from streampose.events.zone import ZoneRule

__all__ = ["Event", "EventEngine", "FallRule", "LineRule", "Rule", "ZoneRule", "rules_from_config"]
