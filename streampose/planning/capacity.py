"""How many items each channel between the stages holds: every ring and queue size of a
run, in one place (the stages' ``outputs`` read them from here).

A frame ring holds a live stream's ``[live].slots`` frames, or a file stream's
:func:`file_slots`; the input ring a batch per inference worker and two more, and room
for each preprocess shard to write all of a frame's work items (:func:`frame_items`:
tiles); the map ring as much, plus one per postprocess worker; a render shard's results
queue four file rings' worth of work items per stream it owns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streampose.planning.plan import RunPlan

__all__ = ["file_slots", "frame_bytes", "frame_items", "frame_slots", "input_slots",
           "map_slots", "results_size"]


def file_slots(plan: RunPlan) -> int:
    """Frame slots per file stream: ``frame_slots``, or the config's ring of frames plus
    one more batch per extra inference worker."""
    performance, batch = plan.config.performance, plan.config.batching.batch
    if performance.frame_slots is not None:
        return performance.frame_slots
    return performance.ring_slots(batch) + (len(plan.processes.infer) - 1) * batch


def frame_slots(plan: RunPlan, stream: int) -> int:
    """Slots of one stream's frame ring."""
    if plan.sources[stream].live:
        return plan.config.live_for(stream).slots
    return file_slots(plan)


def frame_bytes(plan: RunPlan, stream: int) -> int:
    """Bytes of one frame-ring slot: the stream's largest BGR frame (its sizes, and the
    bound its frames are scaled to fit)."""
    return max(w * h * 3 for w, h in plan.sources[stream].planned_sizes)


def frame_items(plan: RunPlan) -> int:
    """The most work items a frame of the run gives (1: whole frames; more: tiles, or
    motion regions: at most ``[motion].max_regions`` items, or the frame's usual ones)."""
    work = plan.work
    most = max(work.count(w, h) for source in plan.sources for w, h in source.planned_sizes)
    return max(most, plan.config.motion.max_regions) if any(plan.motion) else most


def input_slots(plan: RunPlan) -> int:
    """Slots of the input ring: a batch per inference worker, and two more; with several
    items per frame, room for each preprocess shard to write a whole frame's."""
    extra = (frame_items(plan) - 1) * len(plan.processes.preprocess)
    return plan.config.batching.batch * len(plan.processes.infer) + 2 + extra


def map_slots(plan: RunPlan) -> int:
    """Slots of the map ring: the input ring's, and one per postprocess worker."""
    return input_slots(plan) + plan.postprocess_workers


def results_size(plan: RunPlan, shard: int) -> int:
    """Items a render shard's results queue holds (a result per work item)."""
    return 4 * file_slots(plan) * frame_items(plan) * len(plan.processes.render[shard])
