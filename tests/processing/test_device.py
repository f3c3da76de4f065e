"""Device processing (torch on the CPU): the input slot carries only the plan, infer reads
the frame through its lease, and the peaks payload decodes to the host strategy's poses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("torch", reason="device processing runs on torch")

from streampose.backends.request import BackendRequest
from streampose.heads.paf import MapsPayload, PeaksPayload
from streampose.heads.peak_payload import peak_payload_bytes
from streampose.models.spec import builtin_specs
from streampose.pose.decoder import DecoderThresholds
from streampose.pose.letterbox import letterbox_into, plan_letterbox
from streampose.processing.device import PLAN_ONLY_BYTES
from streampose.transport.messages import FrameHeader, FrameRef
from streampose.transport.ring import SharedRing
from tests.support.models import device_processing, host_processing

SPEC = builtin_specs()["openpose-mnv2s-coco18"]
LB = plan_letterbox(src_w=160, src_h=96, height=64, stride=8)  # 112 x 64 input, 14 x 8 maps

MakeRing = Callable[..., SharedRing]


def frame() -> np.ndarray:
    image = np.full((96, 160, 3), 20, np.uint8)
    image[40:48, 64:72] = 250  # the fake backend's person
    return image


def test_sizes_and_flags() -> None:
    p = device_processing(SPEC, DecoderThresholds(nms_radius=2))
    assert (p.name, p.reads_frames) == ("device", True)
    assert p.input_bytes([LB]) == PLAN_ONLY_BYTES
    assert p.output_bytes([LB]) == peak_payload_bytes(38, 8, 14, keypoints=18, radius=2)


def test_prepare_leaves_the_input_slot_alone(make_ring: MakeRing) -> None:
    p = device_processing(SPEC)
    ring = make_ring(slots=1, slot_bytes=PLAN_ONLY_BYTES)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (PLAN_ONLY_BYTES,), np.uint8)[...] = 7
    assert p.prepare(frame(), LB, ring, slot) == ((64, 112, 3), "uint8")
    assert (ring.array(slot, (PLAN_ONLY_BYTES,), np.uint8) == 7).all()
    ring.release(slot)


def test_device_payload_decodes_like_the_host_maps(make_ring: MakeRing) -> None:
    thresholds = DecoderThresholds()
    device = device_processing(SPEC, thresholds)
    host = host_processing(SPEC, thresholds)
    header = FrameHeader(width=160, height=96, frame=FrameRef(0, 3), shape=(64, 112, 3),
                         dtype="uint8", transform=(LB.scale_x, LB.scale_y, LB.pad_x, LB.pad_y))
    asked: list[FrameRef] = []

    def frames(h: FrameHeader) -> np.ndarray:
        asked.append(h.frame)
        return frame()

    backend = BackendRequest(name="fake", spec=SPEC, model_path=None).create()
    backend.open()
    device.open(backend)
    [on] = device.infer(backend, [np.zeros(1, np.uint8)], [header], frames)
    x = np.zeros((64, 112, 3), np.float32)
    letterbox_into(frame(), LB, x, spec=SPEC)
    [off] = host.infer(backend, [x], [header], frames)
    backend.close()
    assert asked == [FrameRef(0, 3)]  # device processing read the leased frame
    assert isinstance(on, PeaksPayload) and isinstance(off, MapsPayload)
    assert on.nbytes < off.nbytes
    poses = []
    for p, payload in ((device, on), (host, off)):
        ring = make_ring(slots=1, slot_bytes=p.output_bytes([LB]))
        slot, _ = ring.acquire_write(0)
        shape, dtype = payload.write(ring, slot)
        poses.append(p.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype)))
        ring.release(slot)
    assert len(poses[0]) == len(poses[1]) == 1
    # 0.02 map cells (fp16 PAFs); the head decodes into input pixels, 8 per cell
    np.testing.assert_allclose(poses[0].keypoints[..., :2], poses[1].keypoints[..., :2],
                               atol=0.02 * SPEC.stride)
    np.testing.assert_allclose(poses[0].keypoints[..., 2], poses[1].keypoints[..., 2], atol=0.02)
