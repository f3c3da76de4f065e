"""Letterbox planning, coordinate mapping and input preparation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from streampose.errors import ConfigError
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox, letterbox_into, plan_letterbox
from tests.support.models import valid_spec_dict


def _spec(**changes: object) -> ModelSpec:
    return dataclasses.replace(ModelSpec.from_dict(valid_spec_dict()), **changes)


CENTRED = Letterbox(
    in_w=656,
    in_h=368,
    new_w=600,
    new_h=338,
    scale_x=600 / 1920,
    scale_y=338 / 1080,
    pad_x=28,
    pad_y=15,
)


def _image(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _buffer(spec: ModelSpec, lb: Letterbox) -> np.ndarray:
    return np.full(spec.input_shape(1, lb.in_h, lb.in_w)[1:], np.nan, np.float32)


@pytest.mark.parametrize(
    ("src", "height", "stride", "new", "inp"),
    [
        ((1920, 1080), 368, 8, (654, 368), (656, 368)),  # 16:9, MODEL.md's 656
        ((480, 360), 368, 8, (491, 368), (496, 368)),  # 4:3, upscaled
        ((1080, 1920), 368, 8, (207, 368), (208, 368)),  # portrait
        ((10, 6), 368, 8, (613, 368), (616, 368)),  # tiny
        ((656, 368), 368, 8, (656, 368), (656, 368)),  # exact multiples: no change
        ((1312, 736), 368, 8, (656, 368), (656, 368)),  # exact 2x
        ((1280, 720), 370, 8, (668, 376), (672, 376)),  # height rounded up to stride
        ((1920, 1080), 256, 32, (455, 256), (480, 256)),  # another stride
        ((1, 1), 8, 8, (8, 8), (8, 8)),
    ],
)
def test_plan_letterbox_sizes(
    src: tuple[int, int],
    height: int,
    stride: int,
    new: tuple[int, int],
    inp: tuple[int, int],
) -> None:
    lb = plan_letterbox(src_w=src[0], src_h=src[1], height=height, stride=stride)
    assert (lb.new_w, lb.new_h) == new
    assert (lb.in_w, lb.in_h) == inp
    assert lb.in_w % stride == 0 and lb.in_h % stride == 0
    assert (lb.scale_x, lb.scale_y) == (new[0] / src[0], new[1] / src[1])
    assert (lb.pad_x, lb.pad_y) == (0.0, 0.0)
    assert (lb.src_w, lb.src_h) == src
    assert abs(lb.scale_x / lb.scale_y - 1) < 1 / min(new)  # aspect kept to a pixel


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"src_w": 0}, "src_w = 0"),
        ({"src_h": -5}, "src_h = -5"),
        ({"height": 0}, "height = 0"),
        ({"stride": 0}, "stride = 0"),
        ({"stride": 2.5}, "stride = 2.5"),
    ],
)
def test_plan_letterbox_rejects_bad_arguments(kwargs: dict[str, object], expected: str) -> None:
    args: dict[str, object] = {"src_w": 640, "src_h": 480, "height": 368, "stride": 8}
    with pytest.raises(ConfigError, match=expected):
        plan_letterbox(**{**args, **kwargs})  # type: ignore[arg-type]


def test_letterbox_rejects_an_image_that_does_not_fit() -> None:
    with pytest.raises(ConfigError, match="does not fit"):
        Letterbox(in_w=64, in_h=64, new_w=60, new_h=64, scale_x=1, scale_y=1, pad_x=8)
    with pytest.raises(ConfigError, match="whole pixels"):
        Letterbox(in_w=64, in_h=64, new_w=60, new_h=60, scale_x=1, scale_y=1, pad_x=1.5)


@pytest.mark.parametrize(
    "lb",
    [
        plan_letterbox(src_w=1920, src_h=1080, height=368, stride=8),
        plan_letterbox(src_w=480, src_h=360, height=368, stride=8),
        CENTRED,
    ],
)
def test_to_frame_inverts_the_forward_mapping(lb: Letterbox) -> None:
    rng = np.random.default_rng(1)
    frame_xy = rng.uniform(0, 1000, (5, 18, 2))
    input_xy = frame_xy * [lb.scale_x, lb.scale_y] + [lb.pad_x, lb.pad_y]  # the forward map
    np.testing.assert_allclose(lb.to_frame(input_xy), frame_xy, rtol=1e-12, atol=1e-9)
    corner = lb.to_frame(np.array([[lb.pad_x + lb.new_w, lb.pad_y + lb.new_h]]))
    np.testing.assert_allclose(corner, [[lb.src_w, lb.src_h]], rtol=1e-12)


def test_to_frame_keeps_confidence_and_float32() -> None:
    lb = plan_letterbox(src_w=1920, src_h=1080, height=368, stride=8)
    keypoints = np.array([[[327.0, 184.0, 0.9], [0.0, 0.0, 0.1]]], np.float32)
    out = lb.to_frame(keypoints)
    assert out.dtype == np.float32 and out.shape == keypoints.shape
    np.testing.assert_allclose(out[0, 0], [960.0, 540.0, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(out[..., 2], keypoints[..., 2])
    assert keypoints[0, 0, 0] == 327.0  # input untouched
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\+\)"):
        lb.to_frame(np.zeros((4, 1)))


@pytest.mark.parametrize(("src_w", "src_h"), [(1920, 1080), (1919, 1079), (480, 360), (640, 640)])
def test_resized_content_lands_where_to_frame_says(src_w: int, src_h: int) -> None:
    """A bright square's centroid in the input maps back to its centre in the frame."""
    frame = np.zeros((src_h, src_w, 3), np.uint8)
    x0, y0, size = src_w // 3, src_h // 4, max(src_w, src_h) // 20
    frame[y0 : y0 + size, x0 : x0 + size] = 255
    lb = plan_letterbox(src_w=src_w, src_h=src_h, height=368, stride=8)
    out = np.empty((lb.in_h, lb.in_w, 3), np.float32)
    letterbox_into(frame, lb, out, spec=_spec())
    weights = out[..., 0]
    ys, xs = np.mgrid[: lb.in_h, : lb.in_w] + 0.5  # pixel centres
    centroid = np.array([[(xs * weights).sum(), (ys * weights).sum()]]) / weights.sum()
    np.testing.assert_allclose(lb.to_frame(centroid), [[x0 + size / 2, y0 + size / 2]], atol=0.5)


def test_letterbox_into_nhwc_bgr_identity_and_padding() -> None:
    spec = _spec()
    image = cv2.GaussianBlur(_image(1920, 1080), (0, 0), 3.0)  # smooth, like real frames
    lb = plan_letterbox(src_w=1920, src_h=1080, height=368, stride=8)
    out = _buffer(spec, lb)
    letterbox_into(image, lb, out, spec=spec)
    direct = cv2.resize(image, (lb.new_w, lb.new_h), interpolation=cv2.INTER_AREA)
    # box-halving then INTER_AREA: close to a direct INTER_AREA on smooth content
    assert np.abs(out[:, : lb.new_w] - direct).mean() < 0.5
    assert abs(out[:, : lb.new_w].mean() - image.mean()) < 0.5
    assert np.all(out[:, lb.new_w :] == 0.0)  # right padding, pad_value 0
    assert not np.isnan(out).any()


def test_letterbox_into_exact_size_copies_pixels() -> None:
    spec = _spec()
    image = _image(656, 368)
    lb = plan_letterbox(src_w=656, src_h=368, height=368, stride=8)
    out = _buffer(spec, lb)
    letterbox_into(image, lb, out, spec=spec)
    np.testing.assert_array_equal(out, image.astype(np.float32))


def test_letterbox_into_enlarges_with_linear() -> None:
    spec = _spec()
    image = _image(100, 50)
    lb = plan_letterbox(src_w=100, src_h=50, height=96, stride=8)
    out = _buffer(spec, lb)
    letterbox_into(image, lb, out, spec=spec)
    expected = cv2.resize(image, (lb.new_w, lb.new_h), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out[:, : lb.new_w], expected.astype(np.float32))


def test_letterbox_into_nchw_rgb_mean_scale_and_pad_value() -> None:
    mean, scale, pad = (10.0, 20.0, 30.0), (0.5, 0.25, 2.0), 128.0
    image = _image(480, 360)
    lb = plan_letterbox(src_w=480, src_h=360, height=368, stride=8)
    plain = _buffer(_spec(), lb)
    letterbox_into(image, lb, plain, spec=_spec())
    spec = _spec(input_layout="NCHW", color="RGB", mean=mean, scale=scale, pad_value=pad)
    out = _buffer(spec, lb)
    assert out.shape == (3, 368, 496)
    letterbox_into(image, lb, out, spec=spec)
    for c in range(3):  # network channel c is RGB: BGR channel 2 - c
        expected = (plain[:, : lb.new_w, 2 - c] - mean[c]) * scale[c]
        np.testing.assert_allclose(out[c, :, : lb.new_w], expected, rtol=1e-6)
        np.testing.assert_allclose(out[c, :, lb.new_w :], (pad - mean[c]) * scale[c])


def test_letterbox_into_nhwc_rgb() -> None:
    image = _image(656, 368)
    lb = plan_letterbox(src_w=656, src_h=368, height=368, stride=8)
    out = _buffer(_spec(), lb)
    letterbox_into(image, lb, out, spec=_spec(color="RGB"))
    np.testing.assert_array_equal(out, image[..., ::-1].astype(np.float32))


def test_letterbox_into_honours_offsets_on_a_common_canvas() -> None:
    """An image placed at (pad_x, pad_y) inside a wider canvas; padding all around."""
    spec = _spec(pad_value=7.0)
    image = _image(64, 48)
    lb = Letterbox(in_w=96, in_h=64, new_w=64, new_h=48, scale_x=1, scale_y=1, pad_x=16, pad_y=8)
    out = _buffer(spec, lb)
    letterbox_into(image, lb, out, spec=spec)
    np.testing.assert_array_equal(out[8:56, 16:80], image.astype(np.float32))
    mask = np.ones((64, 96), bool)
    mask[8:56, 16:80] = False
    assert np.all(out[mask] == 7.0)
    np.testing.assert_allclose(lb.to_frame(np.array([[16.0, 8.0]])), [[0.0, 0.0]])


def test_letterbox_into_rejects_wrong_buffers() -> None:
    spec = _spec()
    lb = plan_letterbox(src_w=480, src_h=360, height=368, stride=8)
    with pytest.raises(ValueError, match=r"float32 \(368, 496, 3\) for NHWC"):
        letterbox_into(_image(480, 360), lb, np.empty((3, 368, 496), np.float32), spec=spec)
    with pytest.raises(ValueError, match="float32"):
        letterbox_into(_image(480, 360), lb, np.empty((368, 496, 3), np.float64), spec=spec)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        letterbox_into(np.zeros((360, 480), np.uint8), lb, _buffer(spec, lb), spec=spec)
