"""BGR -> yuv420p (I420) for the encoder: BT.601 or BT.709, limited ("TV") range.

The conversion the encoder's output declares, done with two OpenCV calls that have fast
paths, instead of swscale (10-14 ms of CPU per 1080p frame through PyAV):

- **luma**: one 3x4 colour transform of the whole frame (``cv2.transform``'s SIMD path
  for 3 -> 3 channels) gives Y'CbCr per pixel; its Y' channel is the Y plane.
- **chroma**: the frame averaged over each 2x2 block (``cv2.resize`` with
  ``INTER_AREA`` at exactly half size: a box filter), then the same transform on that
  quarter-size image; its Cb and Cr channels are the U and V planes. Averaging before
  converting is what a linear conversion allows; the chroma sits centred in its 2x2
  block.

The matrices follow the standards' definitions: ``Y' = Kr R + Kg G + Kb B`` scaled to
[16, 235], ``Cb = (B - Y') / (2 (1 - Kb))`` and ``Cr = (R - Y') / (2 (1 - Kr))``
scaled to [16, 240] around 128 (BT.601: Kr 0.299, Kb 0.114; BT.709: Kr 0.2126,
Kb 0.0722). Against FFmpeg's own conversion (swscale, accurate rounding, area filter)
the planes differ by at most one level, by 0.03-0.16 of a level on average
(``tests/outputs/test_yuv.py``). The result depends only on the input: the same
frame always gives the same bytes (no threads race for a pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["LIMITED_RANGE", "MATRICES", "ColourMatrix", "I420Converter", "colour_matrix"]


@dataclass(frozen=True)
class ColourMatrix:
    """A Y'CbCr matrix by its luma weights, and its FFmpeg tags (AVColorSpace,
    AVColorPrimaries, AVColorTransferCharacteristic)."""

    name: str
    kr: float
    kb: float
    colorspace: int
    primaries: int
    transfer: int

    def bgr_to_ycbcr(self) -> np.ndarray:
        """The 3x4 float32 matrix (BGR + 1 -> Y', Cb, Cr), limited range."""
        kr, kb = self.kr, self.kb
        luma = np.array([kb, 1.0 - kr - kb, kr])  # weights of B, G, R
        cb = (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - kb))
        cr = (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - kr))
        rows = [np.append(luma * 219.0 / 255.0, 16.0),
                np.append(cb * 224.0 / 255.0, 128.0),
                np.append(cr * 224.0 / 255.0, 128.0)]
        return np.stack(rows).astype(np.float32)


# SMPTE 170M is BT.601's 525-line system; FFmpeg tags (libavutil/pixfmt.h).
MATRICES = {
    "bt601": ColourMatrix("bt601", kr=0.299, kb=0.114, colorspace=6, primaries=6,
                          transfer=6),
    "bt709": ColourMatrix("bt709", kr=0.2126, kb=0.0722, colorspace=1, primaries=1,
                          transfer=1),
}
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def colour_matrix(name: str) -> ColourMatrix:
    """The matrix called ``name`` (bt601, bt709); ValueError naming the known ones."""
    try:
        return MATRICES[name]
    except KeyError:
        raise ValueError(f"colour matrix {name!r} is not one of "
                         f"{', '.join(MATRICES)}") from None


class I420Converter:
    """BGR frames of one even size -> I420 buffers (Y, then U, then V planes), reusing its
    buffers: the returned array is overwritten by the next call."""

    def __init__(self, width: int, height: int, matrix: ColourMatrix) -> None:
        if width % 2 or height % 2 or width < 2 or height < 2:
            raise ValueError(f"I420 needs an even size, not {width}x{height}")
        self.width, self.height, self.matrix = width, height, matrix
        self._m = matrix.bgr_to_ycbcr()
        self.out = np.empty((height * 3 // 2, width), np.uint8)
        quarter = (height // 2) * (width // 2)
        flat = self.out.reshape(-1)
        size = width * height
        self._y = self.out[:height]
        self._u = flat[size : size + quarter].reshape(height // 2, width // 2)
        self._v = flat[size + quarter :].reshape(height // 2, width // 2)

    def convert(self, image: np.ndarray) -> np.ndarray:
        """One HxWx3 uint8 BGR frame -> the (H*3/2)xW uint8 I420 buffer."""
        self.convert_into(image, (self._y, self._u, self._v))
        return self.out

    def convert_into(self, image: np.ndarray, planes: Sequence[np.ndarray]) -> None:
        """Convert into ``planes``: C-contiguous uint8 Y (HxW), U and V (H/2 x W/2), e.g.
        an encoder frame's own buffers (no copy afterwards)."""
        h, w = self.height, self.width
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected a {h}x{w}x3 uint8 BGR frame, got {image.shape} "
                             f"{image.dtype}")
        y, u, v = planes
        shapes = ((h, w), (h // 2, w // 2), (h // 2, w // 2))
        if any(p.shape != s or p.dtype != np.uint8 or not p.flags.c_contiguous
               for p, s in zip(planes, shapes, strict=True)):
            raise ValueError("I420 planes must be C-contiguous uint8 of the frame's size")
        full = cv2.transform(image, self._m)
        cv2.mixChannels([full], [y], [0, 0])
        half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        chroma = cv2.transform(half, self._m)
        cv2.mixChannels([chroma], [u, v], [1, 0, 2, 1])
