"""End of work: how a step whose peers share one output tells the next step that all
its input is in (preprocess -> infer, infer -> postprocess)."""

from __future__ import annotations

from typing import Any

from streampose.runtime.channels import last_to_finish
from streampose.runtime.stage import Stage
from streampose.transport.messages import FLAG_EOS, FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["end_work"]


def end_work(stage: Stage, ring: SharedRing, *, finished: Any, peers: int,
             consumers: int) -> None:
    """Count ``stage`` as finished on ``finished`` (shared by its ``peers``); the last one
    puts one end-of-work item (stream -1) per consumer into ``ring``, behind everything
    every peer published."""
    if not last_to_finish(finished, peers):
        return
    for _ in range(consumers):
        out = stage.write_slot(ring)
        if out is not None:
            ring.publish(out, FrameHeader(stream=-1, flags=FLAG_EOS), pinned=True)
