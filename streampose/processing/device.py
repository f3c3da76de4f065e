"""Device processing: letterbox and peak NMS on the inference device (needs torch).

Preprocess leaves the input slot empty (the item header carries the letterbox plan and
the frame lease); infer reads the uint8 frame from its frame ring, letterboxes it on the
device, runs the network, finds the peaks there and sends back fp16 PAFs plus the peak
table (:mod:`streampose.processing.payload`), about a third of float32 maps. The torch
kernels are in :mod:`streampose.processing.torch_ops`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streampose.pose.decoder import PafDecoder
from streampose.pose.letterbox import Letterbox, rebuild_letterbox
from streampose.pose.peaks import Peaks
from streampose.pose.poses import Poses
from streampose.processing.base import FrameReader, Payload, Processing, map_size
from streampose.processing.payload import (
    peak_payload_bytes,
    read_peak_payload,
    write_peak_payload,
)
from streampose.stages.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["DeviceProcessing", "PeaksPayload"]

PLAN_ONLY_BYTES = 64  # input slots carry no pixels, only the header


@dataclass(frozen=True)
class PeaksPayload(Payload):
    """One frame's fp16 PAFs ``(2L, h, w)`` and its peak table ``(n, 4)``."""

    pafs: np.ndarray
    peaks: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.pafs.nbytes + self.peaks.nbytes)

    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        buf = ring.array(slot, (ring.slot_bytes,), "uint8")
        write_peak_payload(buf, self.pafs, self.peaks)
        return self.pafs.shape, "float16"


class DeviceProcessing(Processing):
    """Letterbox before and peaks after the network, on the backend's device."""

    name = "device"
    reads_frames = True

    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        return PLAN_ONLY_BYTES

    def output_bytes(self, plans: Iterable[Letterbox]) -> int:
        sizes = [map_size(lb, self.spec.stride) for lb in plans]
        return max(peak_payload_bytes(self.spec.num_pafs, h, w, keypoints=self.keypoints,
                                      radius=self.thresholds.nms_radius) for h, w in sizes)

    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        return self.spec.input_shape(1, plan.in_h, plan.in_w)[1:], "uint8"

    def open(self, backend: Any) -> None:
        from streampose.processing.torch_ops import DeviceOps

        t = self.thresholds
        device = getattr(backend, "tensor_device", None) or "cpu"
        self._ops = DeviceOps(self.spec, device=device, keypoints=self.keypoints,
                              peak_threshold=t.peak_threshold, nms_radius=t.nms_radius,
                              subpixel=t.subpixel)

    def input_views(self, ring: SharedRing,
                    items: Sequence[tuple[int, FrameHeader]]) -> list[np.ndarray]:
        return []  # the slots hold no pixels (the header's shape is the plan): none to view

    def infer(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
              frames: FrameReader) -> list[Payload]:
        plans = [self._plan(h) for h in headers]
        x = self._ops.prepare([frames(h) for h in headers], plans)
        result = self._ops.finish(*self._ops.forward(backend, x))
        return [PeaksPayload(result.pafs[i], result.peaks[i]) for i in range(len(headers))]

    def _plan(self, header: FrameHeader) -> Letterbox:
        shape = header.shape
        in_hw = (shape[0], shape[1]) if self.spec.input_layout == "NHWC" else (shape[1], shape[2])
        return rebuild_letterbox(in_hw=in_hw, src_wh=(header.width, header.height),
                                 transform=header.transform)

    def _decode(self, decoder: PafDecoder, ring: SharedRing, slot: int,
                header: FrameHeader) -> Poses:
        buf = ring.array(slot, (ring.slot_bytes,), "uint8")
        pafs, table = read_peak_payload(buf, header)
        return decoder.from_peaks(Peaks.from_table(table, self.keypoints), pafs)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__getstate__().items() if k != "_ops"}
