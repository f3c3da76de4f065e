"""Host processing: letterbox on the CPU into float32 inputs; numpy outputs to the head."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from streampose.pose.letterbox import Letterbox, letterbox_into
from streampose.processing.base import FrameReader, Processing
from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["HostProcessing"]


class HostProcessing(Processing):
    """Everything around the network runs on the host (numpy/OpenCV)."""

    name = "host"

    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        return max(lb.in_w * lb.in_h * 3 for lb in plans) * 4

    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        shape = self.spec.input_shape(1, plan.in_h, plan.in_w)[1:]
        letterbox_into(frame, plan, ring.array(slot, shape, "float32"), spec=self.spec)
        return shape, "float32"

    def _run(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
             frames: FrameReader) -> dict[str, Any]:
        outputs: dict[str, Any] = backend.infer(np.stack(inputs))
        return outputs
