"""Where pre- and post-processing run: the one object that decides it for a run.

A :class:`Processing` strategy is chosen once from the configuration
(:func:`streampose.processing.choose_processing`) and handed to the stages that need it:
preprocess (fills an input slot, or leaves the work to the device), infer (runs the
backend and turns its outputs into one map-ring payload per frame) and postprocess
(turns a payload back into poses). It owns the payload formats of the input and map
rings and sizes their slots, so nothing else branches on where the work happens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from streampose.arith import ceil_div
from streampose.models.spec import ModelSpec
from streampose.pose.decoder import DecoderThresholds, PafDecoder
from streampose.pose.letterbox import Letterbox
from streampose.pose.poses import Poses
from streampose.pose.skeleton import get_skeleton
from streampose.stages.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["FrameReader", "Payload", "Processing", "map_size"]

FrameReader = Callable[[FrameHeader], np.ndarray]  # the decoded frame an item refers to


def map_size(plan: Letterbox, stride: int) -> tuple[int, int]:
    """(h, w) of the network's output maps for an input planned by ``plan``."""
    return ceil_div(plan.in_h, stride), ceil_div(plan.in_w, stride)


class Payload(ABC):
    """One frame's network results, ready to be written into a map-ring slot."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Bytes this payload moves back from the inference device."""

    @abstractmethod
    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        """Write into ``slot``; returns the (shape, dtype) the item header records."""


class Processing(ABC):
    """Pre-processing before the network and pose decoding after it, for one model."""

    name = "processing"
    reads_frames = False  # True: infer reads the decoded frames from the frame rings

    def __init__(self, *, spec: ModelSpec, thresholds: DecoderThresholds) -> None:
        self.spec, self.thresholds = spec, thresholds
        self.keypoints = get_skeleton(spec.skeleton).num_keypoints
        self._decoder: PafDecoder | None = None

    # -- ring sizes (in the parent, before anything starts) ------------------------------

    @abstractmethod
    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        """Slot bytes of the input ring for frames planned by ``plans``."""

    @abstractmethod
    def output_bytes(self, plans: Iterable[Letterbox]) -> int:
        """Slot bytes of the map ring for frames planned by ``plans``."""

    # -- preprocess -----------------------------------------------------------------------

    @abstractmethod
    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        """Fill input ``slot`` for ``frame``; returns the payload's (shape, dtype)."""

    # -- infer ----------------------------------------------------------------------------

    def open(self, backend: Any) -> None:
        """Get ready to run ``backend`` (in the infer process); nothing to do by default."""
        return None

    def input_views(self, ring: SharedRing,
                    items: Sequence[tuple[int, FrameHeader]]) -> list[np.ndarray]:
        """Zero-copy views of one batch's input slots, as :meth:`infer` receives them."""
        return [ring.view(slot, header.shape, header.dtype) for slot, header in items]

    @abstractmethod
    def infer(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
              frames: FrameReader) -> list[Payload]:
        """Run one batch (items of one input shape); one payload per item."""

    # -- postprocess ----------------------------------------------------------------------

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        """The poses in one map-ring payload, in map pixels."""
        if self._decoder is None:
            self._decoder = PafDecoder(get_skeleton(self.spec.skeleton), self.thresholds)
        return self._decode(self._decoder, ring, slot, header)

    @abstractmethod
    def _decode(self, decoder: PafDecoder, ring: SharedRing, slot: int,
                header: FrameHeader) -> Poses:
        """Decode one payload with ``decoder``."""

    def __getstate__(self) -> dict[str, Any]:
        return {**vars(self), "_decoder": None}  # decoders are built where they run
