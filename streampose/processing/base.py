"""Where the network input is prepared: on the host, or on the inference device.

A :class:`Processing` strategy is chosen once per run
(:func:`streampose.processing.choose_processing`) and handed to the stages that need it:
preprocess (fills an input slot, or leaves the letterbox to the device), infer (runs the
backend on a batch and lets the model's head turn the outputs into one map-ring payload
per frame) and postprocess (the head decodes a payload into poses). It owns the input
ring's payload format and sizes its slots; the head (:mod:`streampose.heads`) owns the
map ring's. Nothing else branches on where the work happens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from streampose.heads.base import Head, Payload
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox
from streampose.pose.poses import Poses
from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing

__all__ = ["FrameReader", "Payload", "Processing"]

FrameReader = Callable[[FrameHeader], np.ndarray]  # the decoded frame an item refers to


class Processing(ABC):
    """Input preparation before the network; the head does the rest."""

    name = "processing"
    reads_frames = False  # True: infer reads the decoded frames from the frame rings

    def __init__(self, *, spec: ModelSpec, head: Head) -> None:
        self.spec, self.head = spec, head

    # -- ring sizes (in the parent, before anything starts) ------------------------------

    @abstractmethod
    def input_bytes(self, plans: Iterable[Letterbox]) -> int:
        """Slot bytes of the input ring for frames planned by ``plans``."""

    def output_bytes(self, plans: Iterable[Letterbox]) -> int:
        """Slot bytes of the map ring: the head's payload."""
        return self.head.payload_bytes(plans)

    # -- preprocess -----------------------------------------------------------------------

    @abstractmethod
    def prepare(self, frame: np.ndarray, plan: Letterbox, ring: SharedRing,
                slot: int) -> tuple[tuple[int, ...], str]:
        """Fill input ``slot`` for ``frame``; returns the payload's (shape, dtype)."""

    # -- infer ----------------------------------------------------------------------------

    def open(self, backend: Any) -> None:
        """Get ready to run ``backend`` (in the infer process): the head checks the model's
        outputs (a ModelError names the model file and the spec field)."""
        shapes = backend.output_shapes()
        if shapes:  # TensorRT knows them once its first engine exists
            self.head.check_outputs(shapes, model=str(backend.model_path or self.spec.name))

    def input_views(self, ring: SharedRing, items: Sequence[tuple[int, FrameHeader]]
                    ) -> list[np.ndarray]:
        """The network inputs of ``items`` as views of their input-ring slots."""
        return [ring.view(slot, h.shape, h.dtype) for slot, h in items]

    def infer(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
              frames: FrameReader) -> Sequence[Payload]:
        """Run one batch (items of one input shape); one payload per item."""
        return self.head.payloads(self._run(backend, inputs, headers, frames), len(headers))

    @abstractmethod
    def _run(self, backend: Any, inputs: Sequence[np.ndarray], headers: Sequence[FrameHeader],
             frames: FrameReader) -> dict[str, Any]:
        """The model's named outputs for the batch."""

    # -- postprocess ----------------------------------------------------------------------

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        """The poses in one map-ring payload, in network-input pixels."""
        return self.head.decode(ring, slot, header)
