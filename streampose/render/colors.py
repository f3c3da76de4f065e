"""Colours of the annotations: BGR tuples, one stable colour per track id."""

from __future__ import annotations

import colorsys
import functools

__all__ = ["BGR", "NEUTRAL_COLOR", "id_color", "rgb_to_bgr"]

BGR = tuple[int, int, int]
NEUTRAL_COLOR: BGR = (200, 200, 200)  # people without a track id
_GOLDEN = 0.618033988749895


@functools.lru_cache(maxsize=1024)
def id_color(track_id: int) -> BGR:
    """A deterministic, saturated BGR colour for ``track_id``; neutral grey for ids < 0.

    Hues follow the golden-ratio sequence, so consecutive ids get well-separated colours.
    """
    if track_id < 0:
        return NEUTRAL_COLOR
    r, g, b = colorsys.hsv_to_rgb((track_id * _GOLDEN) % 1.0, 0.85, 0.95)
    return round(b * 255), round(g * 255), round(r * 255)


def rgb_to_bgr(rgb: tuple[int, int, int]) -> BGR:
    """An RGB colour (skeletons define theirs in RGB) in OpenCV's BGR order."""
    return rgb[2], rgb[1], rgb[0]
