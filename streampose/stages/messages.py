"""Small control records that travel between stages (never bulk data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streampose.transport.ring import ItemHeader


@dataclass(frozen=True, slots=True)
class PoseResult:
    """Postprocess -> render: a frame's people in frame pixels, or an end-of-stream mark.

    ``header`` is the frame's header (its ``ref`` is the leased frame slot). ``ticket``
    orders results of one stream (gapless, assigned by preprocess) so several
    postprocess workers can run in parallel.
    """

    header: ItemHeader
    ticket: int
    keypoints: np.ndarray | None = None
    scores: np.ndarray | None = None
