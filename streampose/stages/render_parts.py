"""What a render process is built from, made from the run plan: the drawing of each
stream (annotators), the tracker, the pose carry (``--interval``), each camera's event
engine, the render shard's sinks (:func:`streampose.outputs.registry.make_sinks`), and
what following the seats' cameras needs (:class:`SeatOutputs`). :class:`RenderStage
<streampose.stages.render.RenderStage>`'s ``build`` calls these."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

from streampose.cameras.seats import SeatTable
from streampose.config.camera import Camera
from streampose.config.overrides import StreamSettings
from streampose.config.sections import DrawConfig, TrackingConfig
from streampose.events.engine import EventEngine
from streampose.events.rules import rules_from_config
from streampose.outputs.base import Sink
from streampose.outputs.factory import EncoderSettings
from streampose.outputs.registry import SinkContext, camera_recordings, make_sinks
from streampose.planning.interval import carries
from streampose.planning.plan import RunPlan, all_stream_facts
from streampose.planning.run_state import RunState
from streampose.pose import get_skeleton
from streampose.pose.carry import PoseCarry

__all__ = ["SeatOutputs", "annotators_of", "carry_of", "engines_of", "seat_outputs",
           "sinks_of", "tracker_of"]

def annotators_of(plan: RunPlan) -> Callable[[int], list[Any]]:
    """``make(stream)``: the annotators of a stream, from ``[draw]`` and its camera's
    ``draw`` (off: nothing drawn but blurred faces) and ``blur_faces``."""
    cfg = plan.config
    own = [cfg.settings_for(s) for s in range(plan.streams)]
    settings = [_draw_settings(o.draw, tracking=bool(cfg.tracking.enabled), poses=o.poses)
                for o in own]
    return functools.partial(_build_annotators, settings)


def _draw_settings(draw: DrawConfig, *, tracking: bool, poses: bool) -> dict[str, Any]:
    """``build_annotators`` keywords; ``poses`` False draws nothing but blurred faces."""
    return {"skeleton": poses, "ids": poses and draw.ids and tracking,
            "boxes": poses and draw.boxes, "blur_faces": draw.blur_faces,
            "min_confidence": draw.min_confidence, "min_score": draw.min_score,
            "min_keypoints": draw.min_keypoints}


def _build_annotators(settings: Sequence[dict[str, Any]], stream: int) -> list[Any]:
    """The annotators of ``stream``, made in the render process (OpenCV is imported
    there, not in the parent that builds the stage)."""
    from streampose.render import build_annotators

    return build_annotators(**settings[stream])


def tracker_of(section: TrackingConfig) -> Callable[[], Any] | None:
    """A PoseTracker per stream, with the section's parameters; None when tracking is off."""
    if not section.enabled:
        return None
    from streampose.pose.tracking import PoseTracker

    return functools.partial(PoseTracker.from_config, section)


def carry_of(interval: int | str, *, motion: bool = False
             ) -> Callable[[], PoseCarry] | None:
    """A pose carry per stream when frames are skipped (``--interval`` N > 0 or auto, or
    motion regions, whose still frames are passed through)."""
    return PoseCarry if carries(interval) or motion else None


def engines_of(plan: RunPlan) -> Callable[[int], EventEngine | None] | None:
    """``make(stream)``: that stream's event engine; None when no rule is configured.

    A track is forgotten one frame after the tracker would have retired it
    (``[tracking].max_age``): its id never comes back.
    """
    events = plan.config.events
    if not events.enabled:
        return None
    return functools.partial(_engine, rules=rules_from_config(events), cameras=plan.cameras,
                             skeleton=plan.spec.skeleton,
                             forget_after=plan.config.tracking.max_age + 1,
                             min_keypoints=events.min_keypoints)


def _engine(stream: int, camera: str | None = None, *, rules: tuple[Any, ...],
            cameras: tuple[str, ...], skeleton: str, forget_after: int,
            min_keypoints: int) -> EventEngine:
    camera = cameras[stream] if camera is None else camera
    return EventEngine(camera=camera, rules=rules, skeleton=get_skeleton(skeleton),
                       forget_after=forget_after, min_keypoints=min_keypoints)


def sinks_of(plan: RunPlan, run: RunState, shard: int, caller: Any = None) -> list[Sink]:
    """The sinks of render shard ``shard`` (:func:`streampose.outputs.registry.make_sinks`):
    its streams' outputs, and files that span streams written as this shard's part when
    there are several shards; ``caller``: the Python caller's channel (a stream run)."""
    shards = plan.processes.render
    context = SinkContext(config=plan.config, streams=all_stream_facts(plan),
                          encoder=_encoder(plan), owned=shards[shard],
                          part=shard if len(shards) > 1 else None,
                          counters=run.counters, console=run.console, caller=caller)
    return make_sinks(context)


def _encoder(plan: RunPlan) -> EncoderSettings:
    """The annotated videos' encoder settings, with render's thread budget."""
    threads = plan.budget("render").encoder
    return EncoderSettings.from_performance(plan.config.performance,
                                            threads=1 if threads is None else threads)


@dataclasses.dataclass(frozen=True)
class SeatOutputs:
    """What render needs to follow the cameras of the seats: the seat table, a camera's
    own annotated-video template (None: the run's sinks record the streams) and encoder,
    and the run's settings a camera's own ``draw``/``blur_faces`` adjust."""

    table: SeatTable
    template: str | None
    encoder: EncoderSettings
    settings: StreamSettings
    tracking: bool
    overwrite: bool = True

    def annotators(self, camera: Camera) -> list[Any]:
        own = self.settings.for_camera(camera)
        return _build_annotators([_draw_settings(own.draw, tracking=self.tracking,
                                                 poses=own.poses)], 0)


def seat_outputs(plan: RunPlan, run: RunState) -> SeatOutputs:
    cfg = plan.config
    return SeatOutputs(table=run.seats, template=camera_recordings(cfg),
                       encoder=_encoder(plan), settings=cfg.settings,
                       tracking=bool(cfg.tracking.enabled), overwrite=cfg.outputs.overwrite)
