"""The device-processing map payload: fp16 PAFs plus the peak table, bounded and checked."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.heads.peak_payload import (
    max_peaks,
    peak_payload_bytes,
    read_peak_payload,
    write_peak_payload,
)
from streampose.transport.messages import FrameHeader


def test_payload_round_trip_and_bound() -> None:
    rng = np.random.default_rng(0)
    pafs = rng.standard_normal((38, 5, 7)).astype(np.float16)
    size = peak_payload_bytes(38, 5, 7, keypoints=18, radius=1)
    assert max_peaks(18, 5, 7, 1) == 18 * 3 * 4
    most = np.ones((max_peaks(18, 5, 7, 1), 4), np.float32)
    buf = np.zeros(size, np.uint8)
    write_peak_payload(buf, pafs, most)  # the largest table fits exactly
    peaks = rng.random((9, 4)).astype(np.float32)
    write_peak_payload(buf, pafs, peaks)
    header = FrameHeader(stream=0, shape=pafs.shape, dtype="float16")
    got_pafs, got_peaks = read_peak_payload(buf, header)
    np.testing.assert_array_equal(got_pafs, pafs)
    np.testing.assert_array_equal(got_peaks, peaks)
    with pytest.raises(ValueError, match="needs"):
        write_peak_payload(buf, pafs, np.ones((len(most) + 1, 4), np.float32))


def test_an_empty_peak_table_round_trips() -> None:
    pafs = np.zeros((38, 3, 4), np.float16)
    buf = np.zeros(peak_payload_bytes(38, 3, 4, keypoints=18, radius=2), np.uint8)
    write_peak_payload(buf, pafs, np.zeros((0, 4), np.float32))
    _, peaks = read_peak_payload(buf, FrameHeader(shape=pafs.shape, dtype="float16"))
    assert peaks.shape == (0, 4) and peaks.dtype == np.float32


def test_a_corrupt_count_is_refused() -> None:
    pafs = np.zeros((38, 3, 4), np.float16)
    buf = np.zeros(peak_payload_bytes(38, 3, 4, keypoints=18, radius=1), np.uint8)
    write_peak_payload(buf, pafs, np.zeros((2, 4), np.float32))
    count_at = -(-pafs.nbytes // 64) * 64  # the int64 count after the padded PAFs
    header = FrameHeader(shape=pafs.shape, dtype="float16")
    for bad in (-1, 10**6):
        buf[count_at:count_at + 8].view(np.int64)[0] = bad
        with pytest.raises(ValueError, match="corrupt peak payload"):
            read_peak_payload(buf, header)
