"""A few frames sampled from sources: calibration data for INT8 quantization.

    frames = sample_frames(["clip.mp4", "images/"], 32)   # BGR uint8 arrays

Each source gives an equal share, spread evenly over a video of known length (every
image of a folder when it holds fewer). Used by ``streampose quantize`` (ONNX Runtime)
and handed to the TensorRT backend for its INT8 calibration (the backends sit below the
sources, so a run's planning passes this function down as ``calibration_loader``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from streampose.errors import SourceError

__all__ = ["sample_frames"]


def sample_frames(sources: Sequence[str], count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR frames, an equal share from each source, spread evenly over a
    video of known length; SourceError when the sources give none."""
    from streampose.sources.factory import create_source

    share = max(1, math.ceil(count / max(1, len(sources))))
    frames: list[np.ndarray] = []
    for uri in sources:
        with create_source(uri) as source:
            info = source.open()
            step = max(1, (info.frames or share) // share)
            picked = itertools.islice(source.frames(), 0, share * step, step)
            frames += [f.image for f in picked]
    if not frames:
        raise SourceError(f"--calibrate {' '.join(sources)}: no frames to calibrate on")
    return frames[:count]
