"""The frame header and its codec: round trips, the time-base cache, refused headers."""

from __future__ import annotations

import pickle
from fractions import Fraction

import numpy as np
import pytest

from streampose.transport.messages import (
    FLAG_DROPPED_BEFORE,
    FLAG_EOS,
    FLAG_PASS,
    FLAG_RECONNECTED,
    FRAME_CODEC,
    FrameCodec,
    FrameHeader,
    FrameRef,
    PoseResult,
)

HEADERS = [
    FrameHeader(),
    FrameHeader(
        stream=7, seq=2**40, pts=-123_456_789, time_base=Fraction(1001, 30000),
        wall=1_700_000_000.123456, width=1920, height=1080,
        flags=FLAG_EOS | FLAG_DROPPED_BEFORE | FLAG_RECONNECTED, frame=FrameRef(3, 5),
        shape=(1, 3, 368, 656), dtype="float16", transform=(0.3416, 0.3407, 0.0, 4.5),
        ticket=2**33,
    ),
    FrameHeader(time_base=Fraction(1, 90000), shape=(46, 82, 57), dtype="float32"),
    FrameHeader(seq=3, shape=(1080, 1920, 3), flags=FLAG_DROPPED_BEFORE, frame=FrameRef(0, 0)),
    FrameHeader(shape=(10,), transform=(2.0, 2.0, -1.5, 3.25)),
    FrameHeader(stream=-1, flags=FLAG_EOS),  # end of all work for a worker
    # a frame's third of four tiles, its crop and the transform with the crop folded in
    FrameHeader(ticket=9, item=2, items=4, crop=(120, 90, 240, 180),
                transform=(2.67, 2.67, -320.0, -240.0)),
    FrameHeader(flags=FLAG_PASS, shape=()),  # a pass-through item: no payload
    # a 1280x720 picture decode scaled into a 640x360 slot
    FrameHeader(width=640, height=360, source_size=(1280, 720), source_scale=(2.0, 2.0)),
]  # fmt: skip


def _round_trip(header: FrameHeader, codec: FrameCodec = FRAME_CODEC,
                offset: int = 0) -> FrameHeader:
    buf = memoryview(bytearray(offset + codec.size))
    codec.pack_into(buf, offset, header)
    return codec.unpack_from(buf, offset)


@pytest.mark.parametrize("header", HEADERS, ids=range(len(HEADERS)))
def test_header_round_trip(header: FrameHeader) -> None:
    got = _round_trip(header, offset=48)
    assert got == header
    assert isinstance(got.time_base, Fraction)
    assert isinstance(got.frame, FrameRef) and got.frame == header.frame
    assert got.eos == bool(header.flags & FLAG_EOS)
    assert got.shape == header.shape and isinstance(got.shape, tuple)


def test_frame_ref_names_ring_and_slot() -> None:
    ref = FrameRef(ring=2, slot=9)
    ring, slot = ref
    assert (ring, slot) == (ref.ring, ref.slot) == (2, 9)
    assert FrameHeader().frame == FrameRef(-1, -1)  # no lease by default


def test_the_source_size_is_the_frame_s_own_unless_decode_fitted_it() -> None:
    plain = FrameHeader(width=640, height=360)
    assert plain.source == (640, 360) and not plain.rescaled
    padded = FrameHeader(width=600, height=300, source_size=(600, 100))
    assert padded.source == (600, 100) and not padded.rescaled
    scaled = FrameHeader(width=640, height=360, source_size=(1280, 720),
                         source_scale=(2.0, 2.0))
    assert scaled.source == (1280, 720) and scaled.rescaled


def test_frame_shape_is_the_decoded_bgr_frame() -> None:
    header = FrameHeader(width=640, height=360, shape=(1, 368, 656, 3))
    assert header.frame_shape == (360, 640, 3)


def test_time_bases_alternate_correctly() -> None:
    bases = [Fraction(1, 90000), Fraction(1001, 30000), Fraction(1, 90000), Fraction(1, 1000)]
    for base in bases:
        assert _round_trip(FrameHeader(time_base=base)).time_base == base


def test_time_base_cache_is_fresh_after_pickling() -> None:
    codec = FrameCodec()
    assert _round_trip(FrameHeader(time_base=Fraction(1001, 30000)), codec).time_base == (
        Fraction(1001, 30000))
    twin = pickle.loads(pickle.dumps(codec))  # what travels to a stage process with a ring
    assert isinstance(twin, FrameCodec) and twin is not codec
    assert twin._tb == (1, 1, Fraction(1, 1))  # the cache did not travel
    assert twin.size == codec.size
    for base in (Fraction(1, 1), Fraction(1, 90000), Fraction(1001, 30000)):
        assert _round_trip(FrameHeader(time_base=base), twin).time_base == base
    assert pickle.loads(pickle.dumps(FRAME_CODEC)).size == FRAME_CODEC.size


def test_repeated_time_base_is_reused() -> None:
    codec = FrameCodec()
    first = _round_trip(FrameHeader(time_base=Fraction(1, 90000)), codec).time_base
    second = _round_trip(FrameHeader(time_base=Fraction(1, 90000)), codec).time_base
    assert first is second


@pytest.mark.parametrize(
    ("header", "match"),
    [(FrameHeader(shape=(1, 1, 1, 1, 1)), "5 dims; at most 4"),
     (FrameHeader(dtype="int64"), "dtype 'int64' not supported")],
)
def test_pack_rejects_bad_header(header: FrameHeader, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FRAME_CODEC.pack_into(memoryview(bytearray(FRAME_CODEC.size)), 0, header)


def test_pose_result_carries_the_header() -> None:
    header = FrameHeader(stream=1, ticket=4, frame=FrameRef(1, 2))
    keypoints = np.zeros((1, 18, 3), np.float32)
    result = PoseResult(header, keypoints, np.ones(1, np.float32))
    assert result.header.ticket == 4 and result.header.frame == FrameRef(1, 2)
    eos = PoseResult(FrameHeader(stream=1, flags=FLAG_EOS))
    assert eos.header.eos and eos.keypoints is None and eos.scores is None
    assert pickle.loads(pickle.dumps(result)).header == header


def test_a_header_is_one_whole_frame_item_by_default() -> None:
    header = FrameHeader()
    assert (header.item, header.items, header.crop, header.passthrough) == (0, 1, (0, 0, 0, 0),
                                                                          False)
    assert FrameHeader(flags=FLAG_PASS).passthrough
