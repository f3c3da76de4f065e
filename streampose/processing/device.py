"""Device processing: the letterbox on the inference device (needs torch).

Preprocess leaves the input slot empty (the item header carries the letterbox plan and
the frame lease); infer reads the uint8 frame from its frame ring, letterboxes it on the
device and runs the network there; the model's head gets the outputs as device tensors
(the PAF head then finds the peaks there too and sends back fp16 PAFs plus a peak table).
The torch kernels are in :mod:`streampose.processing.torch_ops`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from streampose.pose.letterbox import Letterbox, rebuild_letterbox
from streampose.processing.base import FrameReader, Processing
from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["DeviceProcessing"]

PLAN_ONLY_BYTES = 64  # input slots carry no pixels, only the header


class DeviceProcessing(Processing):
    """Letterbox before the network on the backend's device."""

    name = "device"
    reads_frames = True

    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        return PLAN_ONLY_BYTES

    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        return self.spec.input_shape(1, plan.in_h, plan.in_w)[1:], "uint8"

    def open(self, backend: Any) -> None:
        from streampose.processing.torch_ops import DeviceOps

        super().open(backend)
        device = getattr(backend, "tensor_device", None) or "cpu"
        self._ops = DeviceOps(self.spec, device=device)

    def input_views(self, ring: SharedRing, items: Sequence[tuple[int, FrameHeader]]
                    ) -> list[np.ndarray]:
        return []  # the slots hold no pixels: infer reads the frames through their leases

    def _run(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
             frames: FrameReader) -> dict[str, Any]:
        plans = [self._plan(h) for h in headers]
        x = self._ops.prepare([frames(h) for h in headers], plans)
        outputs: dict[str, Any] = self._ops.forward(backend, x)
        return outputs

    def _plan(self, header: FrameHeader) -> Letterbox:
        shape = header.shape
        in_hw = (shape[0], shape[1]) if self.spec.input_layout == "NHWC" else (shape[1], shape[2])
        return rebuild_letterbox(in_hw=in_hw, src_wh=(header.width, header.height),
                                 transform=header.transform)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "_ops"}
