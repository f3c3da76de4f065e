"""The PAF head: its part of the spec, the model outputs it reads and checks, one payload
per frame (host maps, or device peaks), and decoding into network-input pixels."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable

import numpy as np
import pytest

from streampose.backends.fake_people import render_maps, standing_person
from streampose.errors import ModelError
from streampose.heads import make_head
from streampose.heads.paf import MapsPayload, PafHead, PafOutputs
from streampose.heads.peak_payload import peak_payload_bytes
from streampose.models import architecture_spec
from streampose.models.spec import ModelSpec, OutputRef, builtin_specs
from streampose.pose import COCO18, PafDecoder
from streampose.pose.decoder import DecoderThresholds
from streampose.pose.letterbox import plan_letterbox
from streampose.transport.messages import FrameHeader
from streampose.transport.ring import SharedRing
from tests.support.models import paf_head

SPEC = builtin_specs()["openpose-mnv2s-coco18"]  # one NHWC output: 19 heatmaps + 38 PAFs
NCHW = ModelSpec.from_dict(architecture_spec("lightweight-openpose"))  # two NCHW outputs
OUTPUT = "Openpose/concat_stage7:0"
MAP_HW = (23, 41)

MakeRing = Callable[..., SharedRing]


def with_options(spec: ModelSpec, **fields: object) -> ModelSpec:
    return dataclasses.replace(spec, head_options=dataclasses.replace(spec.head_options,
                                                                      **fields))


def person_maps() -> tuple[np.ndarray, np.ndarray]:
    return render_maps([standing_person(x=20.0, top=3.0, height=16.0)], shape=MAP_HW)


# -- the spec and the outputs ----------------------------------------------------------------


def test_the_spec_part_and_the_outputs_read() -> None:
    assert SPEC.head == "paf" and isinstance(SPEC.head_options, PafOutputs)
    head = paf_head(SPEC)
    assert isinstance(head, PafHead) and head.options is SPEC.head_options
    assert head.options.heatmaps == OutputRef(OUTPUT, 0, 19)
    assert (head.num_heatmaps, head.num_pafs) == (19, 38)
    assert head.outputs == (OUTPUT,)  # read once, though both refs name it
    assert paf_head(NCHW).outputs == ("heatmaps", "pafs")
    assert head.thresholds == DecoderThresholds()


def test_heatmaps_must_fit_the_skeleton() -> None:
    spec = with_options(SPEC, heatmaps=OutputRef(OUTPUT, 0, 17))
    with pytest.raises(ModelError, match=r"17 channels; skeleton coco18 has 18 keypoints"):
        make_head(spec)
    assert paf_head(with_options(SPEC, heatmaps=OutputRef(OUTPUT, 0, 18))).num_heatmaps == 18


@pytest.mark.parametrize("shape", [(None, None, None, 57), (1, 46, 82, 60), ("n", "h", "w", None),
                                   (None, None, None, None)])
def test_check_outputs_accepts_enough_or_dynamic_channels(shape: tuple) -> None:
    paf_head(SPEC).check_outputs({OUTPUT: shape, "other": (1,)}, model="m.onnx")


@pytest.mark.parametrize(("shapes", "message"), [
    ({"out": (None, None, None, 57)},
     r"model m\.onnx has no output 'Openpose/concat_stage7:0' \(heatmaps\.output in spec "
     r"built-in spec openpose-mnv2s-coco18\.toml\); its outputs are: 'out'"),
    ({OUTPUT: (None, None, None, 40)},
     r"model m\.onnx: .*only 40 channels, but pafs\.channels in spec .* ends at 57"),
    ({OUTPUT: (None, 57)}, r"model m\.onnx: output .* shape \[None, 57\].*heatmaps.*4-D NHWC"),
])
def test_check_outputs_names_the_model_and_the_field(shapes: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        paf_head(SPEC).check_outputs(shapes, model="m.onnx")


def test_check_outputs_reads_the_channel_axis_of_the_layout() -> None:
    head = paf_head(NCHW)
    head.check_outputs({"heatmaps": (None, 19, None, None), "pafs": (None, 38, 7, 7)}, model="m")
    with pytest.raises(ModelError, match=r"only 7 channels.*pafs\.channels"):
        head.check_outputs({"heatmaps": (None, 19, 7, 7), "pafs": (None, 7, 38, 38)}, model="m")


# -- payloads -------------------------------------------------------------------------------


def test_payloads_nhwc_and_nchw_agree() -> None:
    raw = np.random.default_rng(0).random((2, 46, 82, 57), dtype=np.float32)
    payloads = paf_head(SPEC).payloads({OUTPUT: raw}, 2)
    assert len(payloads) == 2 and all(isinstance(p, MapsPayload) for p in payloads)
    for p in payloads:
        assert p.heatmaps.shape == (19, 46, 82) and p.pafs.shape == (38, 46, 82)
        assert p.heatmaps.dtype == p.pafs.dtype == np.float32
        assert p.heatmaps.flags.c_contiguous and p.pafs.flags.c_contiguous
    np.testing.assert_array_equal(payloads[1].pafs[5], raw[1, :, :, 24])
    np.testing.assert_array_equal(payloads[0].heatmaps[3], raw[0, :, :, 3])
    nchw = with_options(SPEC, output_layout="NCHW")
    raw_nchw = np.ascontiguousarray(raw.transpose(0, 3, 1, 2))
    again = paf_head(nchw).payloads({OUTPUT: raw_nchw}, 2)
    for a, b in zip(payloads, again, strict=True):
        np.testing.assert_array_equal(a.heatmaps, b.heatmaps)
        np.testing.assert_array_equal(a.pafs, b.pafs)


def test_payloads_from_two_outputs() -> None:
    rng = np.random.default_rng(1)
    outputs = {"heatmaps": rng.random((3, 19, 4, 6), dtype=np.float32),
               "pafs": rng.random((3, 38, 4, 6), dtype=np.float32)}
    payloads = paf_head(NCHW).payloads(outputs, 3)
    for i, p in enumerate(payloads):
        np.testing.assert_array_equal(p.heatmaps, outputs["heatmaps"][i])
        np.testing.assert_array_equal(p.pafs, outputs["pafs"][i])


def test_payloads_too_few_channels() -> None:
    """Checked on every batch too: a dynamic channel axis passes check_outputs."""
    with pytest.raises(ModelError, match=r"channels \[19, 57\)"):
        paf_head(SPEC).payloads({OUTPUT: np.zeros((1, 46, 82, 40), np.float32)}, 1)
    with pytest.raises(ModelError, match=r"shape \(46, 82, 57\)"):
        paf_head(SPEC).payloads({OUTPUT: np.zeros((46, 82, 57), np.float32)}, 1)


def test_payload_bytes_fit_the_largest_plan() -> None:
    wide = plan_letterbox(src_w=1280, src_h=720, height=368, stride=8)  # 656 x 368: 82 x 46
    small = plan_letterbox(src_w=64, src_h=48, height=64, stride=8)  # 88 x 64: 11 x 8
    host = paf_head(SPEC)
    assert host.payload_bytes([small, wide]) == (19 + 38) * 46 * 82 * 4
    assert host.payload_bytes([small]) == (19 + 38) * 8 * 11 * 4
    device = paf_head(SPEC, DecoderThresholds(nms_radius=2), on_device=True)
    assert device.payload_bytes([small, wide]) == peak_payload_bytes(38, 46, 82, keypoints=18,
                                                                     radius=2)


# -- decoding -------------------------------------------------------------------------------


def test_decode_gives_network_input_pixels(make_ring: MakeRing) -> None:
    """Map cell j covers input pixels [8 j, 8 j + 8): its centre is input pixel 8 j + 4."""
    heatmaps, pafs = person_maps()
    head = paf_head(SPEC)
    ring = make_ring(slots=1, slot_bytes=(19 + 38) * MAP_HW[0] * MAP_HW[1] * 4)
    slot, _ = ring.acquire_write(0)
    shape, dtype = MapsPayload(heatmaps, pafs).write(ring, slot)
    assert (shape, dtype) == ((57, *MAP_HW), "float32")
    poses = head.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype))
    ring.release(slot)
    cells = PafDecoder(COCO18)(heatmaps, pafs)
    assert len(poses) == len(cells) == 1
    present = cells.keypoints[..., 2] > 0
    assert present.sum() > 10
    np.testing.assert_allclose(poses.keypoints[..., :2][present],
                               8 * cells.keypoints[..., :2][present] + 4, rtol=1e-6)
    assert not poses.keypoints[~present].any()  # missing keypoints stay (0, 0, 0)
    np.testing.assert_array_equal(poses.keypoints[..., 2], cells.keypoints[..., 2])
    np.testing.assert_array_equal(poses.scores, cells.scores)


def test_device_payloads_decode_like_the_host_maps(make_ring: MakeRing) -> None:
    torch = pytest.importorskip("torch", reason="device peaks run on torch")
    from streampose.heads.paf import PeaksPayload

    heatmaps, pafs = person_maps()
    raw = np.concatenate([heatmaps, pafs])[None].transpose(0, 2, 3, 1)  # NHWC, as the model
    poses = []
    for on_device in (False, True):
        head = paf_head(SPEC, on_device=on_device)
        outputs = {OUTPUT: torch.from_numpy(raw.copy()) if on_device else raw}
        [payload] = head.payloads(outputs, 1)
        assert isinstance(payload, PeaksPayload if on_device else MapsPayload)
        lb = plan_letterbox(src_w=8 * MAP_HW[1], src_h=8 * MAP_HW[0], height=8 * MAP_HW[0],
                            stride=8)
        ring = make_ring(slots=1, slot_bytes=head.payload_bytes([lb]))
        slot, _ = ring.acquire_write(0)
        shape, dtype = payload.write(ring, slot)
        assert dtype == ("float16" if on_device else "float32")
        poses.append(head.decode(ring, slot, FrameHeader(shape=shape, dtype=dtype)))
        ring.release(slot)
    assert len(poses[0]) == len(poses[1]) == 1
    # 0.02 map cells (fp16 PAFs), in input pixels
    np.testing.assert_allclose(poses[1].keypoints[..., :2], poses[0].keypoints[..., :2],
                               atol=0.02 * SPEC.stride)
    np.testing.assert_allclose(poses[1].keypoints[..., 2], poses[0].keypoints[..., 2], atol=0.02)


def test_pickles_without_its_decoder(make_ring: MakeRing) -> None:
    """What the stage processes receive: the spec and the settings, no cached decoder."""
    head = paf_head(SPEC, DecoderThresholds(nms_radius=2), on_device=True)
    ring = make_ring(slots=1, slot_bytes=57 * 4 * 4 * 4)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (57, 4, 4), np.float32)[...] = 0
    assert len(head.decode(ring, slot, FrameHeader(shape=(57, 4, 4), dtype="float32"))) == 0
    ring.release(slot)
    assert head._paf_decoder is not None
    twin = pickle.loads(pickle.dumps(head))
    assert type(twin) is PafHead and getattr(twin, "_paf_decoder", None) is None
    assert twin.spec == SPEC and twin.thresholds == head.thresholds and twin.on_device
