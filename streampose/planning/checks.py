"""The checks of a run plan that need the model and the streams: every output writable
(and not there already with ``--no-overwrite``) and able to hold the model's poses, and
every event rule's camera and anchor. Part of :func:`streampose.planning.validate.validate`."""

from __future__ import annotations

from streampose.config import PipelineConfig
from streampose.errors import ConfigError
from streampose.events.engine import EventEngine
from streampose.events.rules import rules_from_config
from streampose.models.spec import ModelSpec
from streampose.outputs.factory import StreamFacts
from streampose.outputs.lock import refuse_existing, run_outputs
from streampose.outputs.registry import OUTPUTS, check_outputs
from streampose.planning.plan import RunPlan
from streampose.pose import can_convert, get_skeleton

__all__ = ["check_events", "check_outputs_of"]


def check_outputs_of(config: PipelineConfig, streams: list[StreamFacts], spec: ModelSpec) -> None:
    check_outputs(config, streams)
    if not config.outputs.overwrite:
        refuse_existing(run_outputs(config, len(streams),
                                    cameras=[s.camera for s in streams],
                                    recorded=[s.record for s in streams]))
    skeleton = get_skeleton(spec.skeleton)
    for output in OUTPUTS.active(config):
        target = output.layout(skeleton) if output.layout is not None else None
        if target is not None and not can_convert(skeleton, target):
            raise ConfigError(f"{output.flag}: model {spec.name} gives {skeleton.name} poses, "
                              f"which do not convert to {target.name}")


def check_events(plan: RunPlan) -> None:
    """Every rule's camera is one of the run's and its anchor a point of the model's
    skeleton (the ``--events`` file is checked with the outputs)."""
    events = plan.config.events
    if not events.enabled:
        return
    rules = rules_from_config(events)
    for rule in rules:
        if plan.lineup.changing:
            break  # cameras come and go: a rule may name one that is not there yet
        if rule.camera is not None and rule.camera not in plan.cameras:
            raise ConfigError(f"[events] rule {rule.name!r}: camera = {rule.camera!r} is not "
                              f"one of this run's cameras ({', '.join(plan.cameras)})")
    skeleton = get_skeleton(plan.spec.skeleton)
    for camera in plan.cameras:
        EventEngine(camera=camera, rules=rules, skeleton=skeleton)
