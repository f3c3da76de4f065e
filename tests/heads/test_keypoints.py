"""The one-stage keypoint head on synthetic YOLO-pose outputs: thresholds, NMS, the payload
table, the letterbox inverse, the spec keys and the settings' precedence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from streampose.config import KeypointThresholds
from streampose.errors import ModelError
from streampose.heads import HeadSettings, make_head
from streampose.heads.keypoints import KeypointHead, KeypointLimits, box_nms, select_people
from streampose.models.onnx_meta import spec_from_metadata
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import plan_for_spec
from streampose.stages.postprocess import to_frame
from streampose.transport.messages import FrameHeader

K = 17
COLUMNS = 5 + 3 * K
META = {"task": "'pose'", "kpt_shape": "[17, 3]", "stride": "32", "imgsz": "[640, 640]",
        "names": "{0: 'person'}"}
SPEC = spec_from_metadata(META, input_name="images", output_name="output0", name="yolo",
                          source="test metadata")


class ArrayRing:
    """The two SharedRing calls a head uses, over a plain buffer."""

    def __init__(self, slot_bytes: int) -> None:
        self.slot_bytes = slot_bytes
        self._buffer = np.zeros(slot_bytes, np.uint8)

    def array(self, slot: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        count = int(np.prod(shape))
        out: np.ndarray = self._buffer[: count * np.dtype(dtype).itemsize].view(dtype)
        return out.reshape(shape)

    def view(self, slot: int, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return self.array(slot, shape, dtype)


def anchor(box: tuple[float, float, float, float], score: float,
           keypoints: np.ndarray | None = None) -> np.ndarray:
    """One anchor column: box (x1, y1, x2, y2) given as corners, stored as centre/size."""
    x1, y1, x2, y2 = box
    kp = np.full((K, 3), 0.8, np.float32) if keypoints is None else keypoints
    if keypoints is None:
        kp[:, 0], kp[:, 1] = (x1 + x2) / 2, np.linspace(y1, y2, K)
    return np.concatenate([[(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, score],
                           kp.ravel()]).astype(np.float32)


def outputs(*anchors: np.ndarray, total: int = 8) -> np.ndarray:
    """A ``(1, 5 + 3K, total)`` output; unused anchors score 0."""
    out = np.zeros((1, COLUMNS, total), np.float32)
    for i, column in enumerate(anchors):
        out[0, :, i] = column
    return out


def head(**config: Any) -> KeypointHead:
    h = make_head(SPEC, HeadSettings(keypoints=KeypointThresholds(**config)))
    assert isinstance(h, KeypointHead)
    return h


def decoded(h: KeypointHead, out: Any, header: FrameHeader | None = None) -> Any:
    ring = ArrayRing(h.payload_bytes([]))
    (payload,) = h.payloads({"output0": out}, 1)
    shape, dtype = payload.write(ring, 0)  # type: ignore[arg-type]
    header = header or FrameHeader()
    return h.decode(ring, 0, replace(header, shape=shape, dtype=dtype))  # type: ignore[arg-type]


A = (100.0, 100.0, 200.0, 300.0)
A_SHIFTED = (105.0, 100.0, 205.0, 300.0)  # IoU with A = 0.905
A_HALF = (150.0, 100.0, 250.0, 300.0)  # IoU with A = 1/3
FAR = (400.0, 50.0, 450.0, 150.0)

CASES = [
    # name, anchors (box, score), config, expected kept (index into anchors, best first)
    ("overlapping box suppressed", [(A, 0.9), (A_SHIFTED, 0.8)], {}, [0]),
    ("the better of two overlapping wins", [(A_SHIFTED, 0.6), (A, 0.9)], {}, [1]),
    ("separate people both kept, best first", [(FAR, 0.5), (A, 0.9)], {}, [1, 0]),
    ("low scores dropped", [(A, 0.2), (FAR, 0.3)], {}, [1]),
    ("score threshold configurable", [(A, 0.2), (FAR, 0.3)], {"score_threshold": 0.1},
     [1, 0]),
    ("IoU below the threshold kept", [(A, 0.9), (A_HALF, 0.8)], {}, [0, 1]),
    ("IoU threshold configurable", [(A, 0.9), (A_HALF, 0.8)], {"iou_threshold": 0.3}, [0]),
    ("max_people keeps the best", [(FAR, 0.5), (A, 0.9)], {"max_people": 1}, [1]),
    ("zero people", [], {}, []),
    ("NaN scores are below any threshold", [(A, float("nan")), (FAR, 0.6)],
     {"score_threshold": 0.0}, [1]),
    ("all NaN", [(A, float("nan")), (FAR, float("nan"))], {}, []),
    ("equal scores keep the anchor order", [(A_SHIFTED, 0.7), (A, 0.7)], {}, [0]),
]


@pytest.mark.parametrize(("name", "anchors", "config", "kept"), CASES, ids=[c[0] for c in CASES])
def test_people_are_thresholded_and_suppressed(name: str, anchors: list, config: dict,
                                               kept: list[int]) -> None:
    poses = decoded(head(**config), outputs(*(anchor(b, s) for b, s in anchors)))
    assert len(poses) == len(kept)
    assert poses.boxes is not None and poses.boxes.shape == (len(kept), 4)
    for row, index in enumerate(kept):
        box, score = anchors[index]
        np.testing.assert_allclose(poses.boxes[row], box, atol=1e-4)
        assert poses.scores[row] == pytest.approx(score)
        np.testing.assert_allclose(poses.keypoints[row, :, 2], 0.8)


def test_the_payload_is_a_fixed_size_table() -> None:
    h = head(max_people=3)
    assert h.payload_bytes([]) == 4 * COLUMNS * 4
    table = select_people(outputs(anchor(A, 0.9), anchor(FAR, 0.5))[0], h.limits)
    assert table.shape == (3, COLUMNS) and table.dtype == np.float32 and table[0, 0] == 2


def test_nms_is_greedy_and_deterministic() -> None:
    boxes = np.array([A, A_SHIFTED, FAR, A_HALF], np.float32)
    assert box_nms(boxes, 0.7, 10).tolist() == [0, 2, 3]
    assert box_nms(boxes, 0.3, 10).tolist() == [0, 2]
    assert box_nms(boxes, 0.7, 2).tolist() == [0, 2]
    assert box_nms(np.zeros((0, 4), np.float32), 0.7, 10).tolist() == []


def test_non_finite_keypoints_are_missing() -> None:
    kp = np.full((K, 3), 0.9, np.float32)
    kp[3] = (np.nan, 5.0, 0.9)
    kp[4] = (6.0, 7.0, np.nan)
    kp[5] = (6.0, 7.0, 1.5)  # clamped to a probability
    poses = decoded(head(), outputs(anchor(A, 0.9, kp)))
    np.testing.assert_array_equal(poses.keypoints[0, 3:5], 0.0)
    assert poses.keypoints[0, 5, 2] == 1.0


def test_keypoints_map_through_a_centred_letterbox_exactly() -> None:
    lb = plan_for_spec(SPEC, src_w=1920, src_h=1080, height=640)  # the training size
    assert (lb.in_w, lb.in_h, lb.new_w, lb.new_h, lb.pad_x, lb.pad_y) == \
        (640, 384, 640, 360, 0.0, 12.0)
    frame_xy = np.array([[0.0, 0.0], [959.5, 539.5], [1919.0, 1079.0], [300.25, 700.75]])
    # frame pixel centres on integers -> input pixels with edges on integers
    in_xy = (frame_xy + 0.5) * [lb.scale_x, lb.scale_y] + [lb.pad_x, lb.pad_y]
    kp = np.zeros((K, 3), np.float32)
    kp[:4, :2], kp[:4, 2] = in_xy, 0.7
    kp[4:] = (320.0, 192.0, 0.7)
    header = FrameHeader(width=1920, height=1080, transform=lb.transform)
    poses = to_frame(decoded(head(), outputs(anchor((10.0, 12.0, 630.0, 372.0), 0.9, kp)),
                             header), header)
    np.testing.assert_allclose(poses.keypoints[0, :4, :2], frame_xy, atol=1e-3)
    np.testing.assert_allclose(poses.keypoints[0, :4, 2], 0.7)
    assert poses.boxes is not None
    np.testing.assert_allclose(poses.boxes[0], [29.5, 0.0, 1889.5, 1079.0], atol=1e-3)


@pytest.mark.parametrize(("name", "anchors", "config", "kept"), CASES, ids=[c[0] for c in CASES])
def test_torch_outputs_give_the_numpy_results(name: str, anchors: list, config: dict,
                                              kept: list[int]) -> None:
    torch = pytest.importorskip("torch")
    out = outputs(*(anchor(b, s) for b, s in anchors))
    on_host = decoded(head(**config), out)
    on_device = decoded(head(**config), torch.from_numpy(out))
    np.testing.assert_array_equal(on_device.keypoints, on_host.keypoints)
    np.testing.assert_array_equal(on_device.boxes, on_host.boxes)
    assert len(on_device) == len(kept)


def test_settings_take_the_config_then_the_spec_then_the_defaults() -> None:
    spec = ModelSpec.from_dict({**_table(), "score_threshold": 0.5, "max_people": 7},
                               source="s.toml")
    plain = make_head(spec)
    assert isinstance(plain, KeypointHead)
    assert plain.limits == KeypointLimits(0.5, 0.7, 7)
    configured = make_head(spec, HeadSettings(keypoints=KeypointThresholds(max_people=3)))
    assert isinstance(configured, KeypointHead)
    assert configured.limits == KeypointLimits(0.5, 0.7, 3)
    assert head().limits == KeypointLimits(0.25, 0.7, 100)


def _table(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"name": "tiny", "skeleton": "coco17", "head": "keypoints",
                             "input_name": "images", "input_layout": "NCHW", "color": "RGB",
                             "stride": 32, "output": "output0", "keypoints": 17}
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


@pytest.mark.parametrize(("changes", "match"), [
    ({"output": None}, "missing key.*'output'"),
    ({"keypoints": None}, "missing key.*'keypoints'"),
    ({"keypoints": 0}, "invalid keypoints = 0"),
    ({"keypoints": 5}, "keypoints = 5, but skeleton coco17 has 17"),
    ({"iou_threshold": 0.0}, r"invalid iou_threshold = 0.0 \(allowed: a number in \(0, 1\]"),
    ({"score_threshold": "high"}, "invalid score_threshold"),
    ({"max_people": 0}, "invalid max_people = 0"),
    ({"heatmaps": {}}, "unknown key 'heatmaps'"),
])
def test_bad_spec_keys_name_the_file_and_field(changes: dict, match: str) -> None:
    with pytest.raises(ModelError, match=f"s.toml.*{match}|{match}") as info:
        make_head(ModelSpec.from_dict(_table(**changes), source="s.toml"))
    assert "s.toml" in str(info.value)


@pytest.mark.parametrize(("shapes", "match"), [
    ({"other": (None, 56, None)}, "has no output 'output0'"),
    ({"output0": (None, 57, None)}, r"shape \[None, 57, None\].*\[N, 56, anchors\]"),
    ({"output0": (None, 56, 10, 10)}, "has shape"),
])
def test_wrong_outputs_name_the_model_and_field(shapes: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        head().check_outputs(shapes, model="m.onnx")
    head().check_outputs({"output0": (None, 56, None)}, model="m.onnx")
    head().check_outputs({"output0": (None, None, None)}, model="m.onnx")
