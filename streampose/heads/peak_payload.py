"""Map-ring payload of device processing: fp16 PAFs, then the image's peak table.

Layout of one slot (the item header says ``dtype float16``, ``shape (2L, h, w)``)::

    [PAFs, float16 (2L, h, w)] [pad to 64 B] [int64 count, pad to 64 B] [float32 (count, 4)]

The slot is sized for the most peaks NMS can return (kept peaks are more than
``radius`` cells apart in x or y), so no peak is ever cut.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from streampose.arith import ceil_div, round_up

if TYPE_CHECKING:
    from streampose.transport.messages import FrameHeader

__all__ = ["max_peaks", "peak_payload_bytes", "read_peak_payload", "write_peak_payload"]

_ALIGN = 64
_COLUMNS = 4  # kind, x, y, score



def max_peaks(keypoints: int, h: int, w: int, radius: int) -> int:
    """Most peaks one image's ``keypoints`` x ``h`` x ``w`` heatmaps can give."""
    step = radius + 1
    return keypoints * ceil_div(h, step) * ceil_div(w, step)


def peak_payload_bytes(pafs: int, h: int, w: int, *, keypoints: int, radius: int) -> int:
    """Slot bytes for ``pafs`` fp16 channels of ``h`` x ``w`` plus the largest peak table."""
    rows = max_peaks(keypoints, h, w, radius)
    return round_up(pafs * h * w * 2, _ALIGN) + _ALIGN + rows * _COLUMNS * 4


def write_peak_payload(buf: np.ndarray, pafs: np.ndarray, peaks: np.ndarray) -> None:
    """Write fp16 ``pafs`` (2L, h, w) and float32 ``peaks`` (n, 4) into the uint8 ``buf``."""
    table_at = round_up(pafs.nbytes, _ALIGN) + _ALIGN
    need = table_at + peaks.nbytes
    if need > buf.nbytes:
        raise ValueError(f"peak payload needs {need} bytes, the slot holds {buf.nbytes}")
    buf[: pafs.nbytes].view(np.float16).reshape(pafs.shape)[...] = pafs
    buf[table_at - _ALIGN : table_at - _ALIGN + 8].view(np.int64)[0] = len(peaks)
    buf[table_at:need].view(np.float32).reshape(peaks.shape)[...] = peaks


def read_peak_payload(buf: np.ndarray, header: FrameHeader) -> tuple[np.ndarray, np.ndarray]:
    """Views of (fp16 PAFs, float32 peak table) in the uint8 slot ``buf``."""
    paf_bytes = 2 * int(np.prod(header.shape))
    table_at = round_up(paf_bytes, _ALIGN) + _ALIGN
    count = int(buf[table_at - _ALIGN : table_at - _ALIGN + 8].view(np.int64)[0])
    end = table_at + count * _COLUMNS * 4
    if count < 0 or end > buf.nbytes:
        raise ValueError(f"corrupt peak payload: {count} peaks do not fit {buf.nbytes} bytes")
    pafs = buf[:paf_bytes].view(np.float16).reshape(header.shape)
    return pafs, buf[table_at:end].view(np.float32).reshape(count, _COLUMNS)
