"""Host processing: ring sizes, the letterboxed float32 input, the fake backend's maps as
one float32 payload, and decoding that payload back into poses."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import numpy as np
import pytest

from streampose.backends.request import BackendRequest
from streampose.heads.paf import MapsPayload
from streampose.models import architecture_spec
from streampose.models.spec import ModelSpec, builtin_specs
from streampose.pose import COCO18, PafDecoder
from streampose.pose.letterbox import Letterbox, letterbox_into, plan_letterbox
from streampose.processing import HostProcessing
from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing
from tests.support.models import host_processing, paf_maps

NHWC = builtin_specs()["openpose-mnv2s-coco18"]  # 19 heatmaps, 38 PAFs, stride 8
NCHW = ModelSpec.from_dict(architecture_spec("lightweight-openpose"))

MakeRing = Callable[..., SharedRing]


def host(spec: ModelSpec = NHWC) -> HostProcessing:
    p: HostProcessing = host_processing(spec)
    return p


def bright_frame(width: int, height: int, *, x: int, y: int) -> np.ndarray:
    """A dark frame with one bright 8x8 square at (x, y): the fake backend's person."""
    frame = np.full((height, width, 3), 20, np.uint8)
    frame[y:y + 8, x:x + 8] = 250
    return frame


def no_frames(header: FrameHeader) -> np.ndarray:
    raise AssertionError("host processing never reads the frame rings")


def test_ring_sizes_fit_the_largest_plan() -> None:
    wide = plan_letterbox(src_w=1280, src_h=720, height=368, stride=8)  # 656 x 368
    small = plan_letterbox(src_w=64, src_h=48, height=64, stride=8)  # 88 x 64
    p = host()
    assert (p.name, p.reads_frames, p.head.skeleton.num_keypoints) == ("host", False, 18)
    assert p.head.on_device is False
    assert p.input_bytes([wide, small]) == 656 * 368 * 3 * 4
    assert p.input_bytes([small]) == 88 * 64 * 3 * 4
    assert p.output_bytes([small, wide]) == (19 + 38) * 46 * 82 * 4
    assert p.output_bytes([small]) == (19 + 38) * 8 * 11 * 4


@pytest.mark.parametrize("spec", [NHWC, NCHW], ids=["nhwc", "nchw"])
def test_prepare_writes_the_letterboxed_float32_input(make_ring: MakeRing,
                                                      spec: ModelSpec) -> None:
    lb = plan_letterbox(src_w=64, src_h=48, height=64, stride=8)
    p = host(spec)
    ring = make_ring(slots=1, slot_bytes=p.input_bytes([lb]))
    frame = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    slot, _ = ring.acquire_write(0)
    shape, dtype = p.prepare(frame, lb, ring, slot)
    assert shape == spec.input_shape(1, 64, 88)[1:] and dtype == "float32"
    want = np.zeros(shape, np.float32)
    letterbox_into(frame, lb, want, spec=spec)
    np.testing.assert_array_equal(ring.view(slot, shape, dtype), want)
    ring.release(slot)


def _inputs(p: HostProcessing, lb: Letterbox, frames: list[np.ndarray]) -> list[np.ndarray]:
    inputs = []
    for frame in frames:
        out = np.zeros(p.spec.input_shape(1, lb.in_h, lb.in_w)[1:], np.float32)
        letterbox_into(frame, lb, out, spec=p.spec)
        inputs.append(out)
    return inputs


def test_infer_gives_one_maps_payload_per_item(make_ring: MakeRing) -> None:
    lb = plan_letterbox(src_w=96, src_h=64, height=64, stride=8)
    p = host()
    frames = [bright_frame(96, 64, x=40, y=24), np.zeros((64, 96, 3), np.uint8)]
    inputs = _inputs(p, lb, frames)
    backend = BackendRequest(name="fake", spec=NHWC, model_path=None).create()
    backend.open()
    p.open(backend)
    payloads = p.infer(backend, inputs, [FrameHeader(seq=i) for i in range(2)], no_frames)
    heatmaps, pafs = paf_maps(NHWC, backend.infer(np.stack(inputs)))
    backend.close()
    assert len(payloads) == 2 and all(isinstance(x, MapsPayload) for x in payloads)
    ring = make_ring(slots=2, slot_bytes=p.output_bytes([lb]))
    for i, payload in enumerate(payloads):
        np.testing.assert_array_equal(payload.heatmaps, heatmaps[i])
        np.testing.assert_array_equal(payload.pafs, pafs[i])
        assert payload.nbytes == heatmaps[i].nbytes + pafs[i].nbytes
        slot, _ = ring.acquire_write(0)
        shape, dtype = payload.write(ring, slot)
        assert shape == (57, 8, 12) and dtype == "float32"
        stored = ring.view(slot, shape, dtype)
        np.testing.assert_array_equal(stored[:19], heatmaps[i])
        np.testing.assert_array_equal(stored[19:], pafs[i])
        ring.release(slot)


def test_decode_reads_the_poses_back(make_ring: MakeRing) -> None:
    lb = plan_letterbox(src_w=160, src_h=96, height=64, stride=8)
    p = host()
    frames = [bright_frame(160, 96, x=64, y=40), np.zeros((96, 160, 3), np.uint8)]
    inputs = _inputs(p, lb, frames)
    backend = BackendRequest(name="fake", spec=NHWC, model_path=None).create()
    backend.open()
    payloads = p.infer(backend, inputs, [FrameHeader(), FrameHeader()], no_frames)
    backend.close()
    ring = make_ring(slots=2, slot_bytes=p.output_bytes([lb]))
    found = []
    for payload in payloads:
        slot, _ = ring.acquire_write(0)
        shape, dtype = payload.write(ring, slot)
        poses = p.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype))
        # the head decodes into network-input pixels: map cell j is input pixel 8 j + 4
        want = PafDecoder(COCO18)(payload.heatmaps, payload.pafs).transformed(
            scale=(8.0, 8.0), offset=(4.0, 4.0))
        np.testing.assert_array_equal(poses.keypoints, want.keypoints)
        np.testing.assert_array_equal(poses.scores, want.scores)
        found.append(len(poses))
        ring.release(slot)
    assert found == [1, 0]  # the bright square is a person; a black frame is empty


def test_pickles_without_its_decoder(make_ring: MakeRing) -> None:
    p = host()
    ring = make_ring(slots=1, slot_bytes=57 * 4 * 4 * 4)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (57, 4, 4), np.float32)[...] = 0
    assert len(p.decode(ring, slot, FrameHeader(shape=(57, 4, 4), dtype="float32"))) == 0
    ring.release(slot)
    assert p.head._paf_decoder is not None  # the head's decoder, made on first use
    twin = pickle.loads(pickle.dumps(p))  # what the stage processes receive
    assert getattr(twin.head, "_paf_decoder", None) is None
    assert twin.spec == p.spec and twin.head.spec == p.spec
    assert twin.head.thresholds == p.head.thresholds
