"""Poses carry optional person boxes through every transform and JSON; the centred,
long-side letterbox of one-stage models; the minimal COCO-17 skeleton."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import letterbox_into, plan_for_spec, plan_letterbox
from streampose.pose.poses import Poses
from streampose.pose.skeleton import COCO18, get_skeleton
from streampose.render.boxes import BoxAnnotator, person_boxes

COCO17 = get_skeleton("coco17")


def poses_with_boxes() -> Poses:
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :, :2], kp[0, :, 2] = (50.0, 60.0), 0.9
    kp[1, :3] = [(10.0, 20.0, 0.5), (30.0, 5.0, 0.5), (0.0, 0.0, 0.0)]
    boxes = np.array([[40, 50, 70, 90], [5, 0, 35, 25]], np.float32)
    return Poses(kp, np.array([0.9, 0.6], np.float32), COCO17, boxes=boxes)


def test_boxes_are_validated() -> None:
    with pytest.raises(ValueError, match=r"boxes: expected shape \(1, 4\)"):
        Poses(np.zeros((1, 17, 3)), np.zeros(1), COCO17, boxes=np.zeros((2, 4)))
    empty = Poses(np.zeros((0, 17, 3)), np.zeros(0), COCO17, boxes=np.zeros(0))
    assert empty.boxes is not None and empty.boxes.shape == (0, 4)
    assert Poses.empty(COCO17).boxes is None


def test_transforms_and_ids_carry_the_boxes() -> None:
    p = poses_with_boxes()
    moved = p.transformed(scale=(2.0, 3.0), offset=(1.0, -1.0))
    assert moved.boxes is not None
    np.testing.assert_allclose(moved.boxes[0], [81, 149, 141, 269])
    clipped = moved.clipped(width=100, height=200)
    assert clipped.boxes is not None
    np.testing.assert_allclose(clipped.boxes[0], [81, 149, 99, 199])
    assert p.with_track_ids(np.array([3, 4])).boxes is p.boxes


def test_json_has_a_box_only_when_the_poses_carry_boxes() -> None:
    p = poses_with_boxes()
    obj = p.to_json()
    assert obj["persons"][0]["box"] == [40.0, 50.0, 70.0, 90.0]
    back = Poses.from_json(obj)
    assert back.boxes is not None
    np.testing.assert_allclose(back.boxes, p.boxes)  # type: ignore[arg-type]
    plain = Poses(p.keypoints, p.scores, COCO17)
    assert "box" not in plain.to_json()["persons"][0]
    assert Poses.from_json(plain.to_json()).boxes is None


def test_person_boxes_are_the_stored_ones_or_the_keypoint_extent() -> None:
    p = poses_with_boxes()
    np.testing.assert_array_equal(p.person_boxes(), p.boxes)
    derived = Poses(p.keypoints, p.scores, COCO17).person_boxes()
    np.testing.assert_allclose(derived, [[50, 60, 50, 60], [10, 5, 30, 20]])
    assert Poses.empty(COCO18).person_boxes().shape == (0, 4)


def test_the_box_annotator_draws_stored_boxes_as_they_are() -> None:
    p = poses_with_boxes()
    boxes, has_box = person_boxes(p, shape=(100, 100))
    assert boxes.tolist() == [[40, 50, 70, 90], [5, 0, 35, 25]] and has_box.all()
    scene = np.zeros((100, 100, 3), np.uint8)
    BoxAnnotator(thickness=1).annotate(scene, p)
    assert scene[50, 40:71].any(axis=1).all() and not scene[49, 40:71].any()


def test_a_centred_long_side_letterbox() -> None:
    assert plan_letterbox(src_w=1920, src_h=1080, height=640, stride=32, centred=True,
                          fit="long_side").transform == (1 / 3, 1 / 3, 0.0, 12.0)
    tall = plan_letterbox(src_w=500, src_h=1000, height=640, stride=32, centred=True,
                          fit="long_side")
    assert (tall.in_w, tall.in_h, tall.new_w, tall.new_h, tall.pad_x) == (320, 640, 320, 640, 0)
    odd = plan_letterbox(src_w=1000, src_h=530, height=640, stride=32, centred=True,
                         fit="long_side")  # 640 x 339 in 640 x 352: 6 above, 7 below
    assert (odd.new_h, odd.in_h, odd.pad_y) == (339, 352, 6.0)
    # fit = "height" is unchanged
    assert plan_letterbox(src_w=1920, src_h=1080, height=368, stride=8).transform[2:] == (0, 0)


def _yolo_spec() -> ModelSpec:
    return ModelSpec.from_dict({
        "name": "y", "skeleton": "coco17", "head": "keypoints", "input_name": "images",
        "input_layout": "NCHW", "color": "RGB", "stride": 32, "mean": [0, 0, 0],
        "scale": [1 / 255] * 3, "pad_value": 114, "centred": True, "fit": "long_side",
        "input_height": 64, "output": "output0", "keypoints": 17}, source="y.toml")


def test_letterbox_into_pads_around_a_centred_image() -> None:
    spec = _yolo_spec()
    lb = plan_for_spec(spec, src_w=64, src_h=36)  # 64 x 36 in 64 x 64: 14 above, 14 below
    assert (lb.pad_x, lb.pad_y) == (0.0, 14.0)
    image = np.zeros((36, 64, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    out = np.empty((3, 64, 64), np.float32)
    letterbox_into(image, lb, out, spec=spec)
    np.testing.assert_allclose(out[:, :14], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(out[:, 50:], 114 / 255, rtol=1e-6)
    red = np.broadcast_to(np.array([1.0, 0.0, 0.0])[:, None, None], (3, 36, 64))  # RGB
    np.testing.assert_allclose(out[:, 14:50], red)


def test_the_device_letterbox_honours_the_pads() -> None:
    torch = pytest.importorskip("torch")
    from streampose.processing.torch_ops import letterbox_tensor

    spec = _yolo_spec()
    lb = plan_for_spec(spec, src_w=128, src_h=72)
    ramp = np.add.outer(np.arange(72), np.arange(128)).astype(np.float32)
    image = np.stack([ramp, 2 * ramp, 200 - ramp], axis=2).clip(0, 255).astype(np.uint8)
    host = np.empty((3, 64, 64), np.float32)
    letterbox_into(image, lb, host, spec=spec)
    device = torch.empty((3, 64, 64))
    vec = {name: torch.tensor(v, dtype=torch.float32).view(3, 1, 1) for name, v in
           (("mean", spec.mean), ("scale", spec.scale), ("pad", spec.normalise(spec.pad_value)))}
    letterbox_tensor(torch.from_numpy(image), lb, device, spec, **vec)
    assert np.abs(device.numpy() - host).mean() < 0.01
    np.testing.assert_allclose(device.numpy()[:, : int(lb.pad_y)], 114 / 255, rtol=1e-6)


def test_coco17_maps_to_itself() -> None:
    assert COCO17.num_keypoints == 17 and COCO17.coco17 == tuple(range(17))
    assert COCO17.paf_channels == ()
    with pytest.raises(ValueError, match="PAF channel pairs"):
        type(COCO17)(name="x", keypoints=("a", "b"), limbs=((0, 1),), paf_channels=((0, 1),) * 2)
