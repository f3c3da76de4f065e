"""Host processing: letterbox on the CPU into float32 inputs; float32 maps back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streampose.pose.decoder import PafDecoder
from streampose.pose.letterbox import Letterbox, letterbox_into
from streampose.pose.poses import Poses
from streampose.processing.base import FrameReader, Payload, Processing, map_size
from streampose.stages.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["HostProcessing", "MapsPayload"]


@dataclass(frozen=True)
class MapsPayload(Payload):
    """One frame's heatmaps ``(K', h, w)`` and PAFs ``(2L, h, w)``, stored as one array."""

    heatmaps: np.ndarray
    pafs: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.heatmaps.nbytes + self.pafs.nbytes)

    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        k = self.heatmaps.shape[0]
        shape = (k + self.pafs.shape[0], *self.heatmaps.shape[1:])
        view = ring.array(slot, shape, "float32")
        view[:k] = self.heatmaps
        view[k:] = self.pafs
        return shape, "float32"


class HostProcessing(Processing):
    """Everything around the network runs on the host (numpy/OpenCV)."""

    name = "host"

    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        return max(lb.in_w * lb.in_h * 3 for lb in plans) * 4

    def output_bytes(self, plans: Iterable[Letterbox]) -> int:
        channels = self.spec.num_heatmaps + self.spec.num_pafs
        cells = max(h * w for h, w in (map_size(lb, self.spec.stride) for lb in plans))
        return cells * channels * 4

    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        shape = self.spec.input_shape(1, plan.in_h, plan.in_w)[1:]
        letterbox_into(frame, plan, ring.array(slot, shape, "float32"), spec=self.spec)
        return shape, "float32"

    def infer(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
              frames: FrameReader) -> list[Payload]:
        heatmaps, pafs = backend.infer(np.stack(inputs))
        return [MapsPayload(heatmaps[i], pafs[i]) for i in range(len(inputs))]

    def _decode(self, decoder: PafDecoder, ring: SharedRing, slot: int,
                header: FrameHeader) -> Poses:
        maps = ring.view(slot, header.shape, header.dtype)
        k = self.spec.num_heatmaps
        return decoder(maps[:k], maps[k:])
