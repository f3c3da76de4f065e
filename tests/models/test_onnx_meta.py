"""Specs from ONNX metadata: the real YOLO11n-pose export and tiny ONNX files carrying
Ultralytics-style metadata; the order of spec sources (explicit, sidecar, built-in,
metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.errors import ModelError
from streampose.heads.keypoints import KeypointOptions
from streampose.models.onnx_meta import spec_from_metadata, spec_from_onnx_metadata
from streampose.models.resolve import resolve_spec
from tests.support.shared import shared_file

YOLO = "models/yolo11n-pose.onnx"
ULTRALYTICS = {"task": "pose", "kpt_shape": "[17, 3]", "stride": "32",
               "imgsz": "[640, 640]", "names": "{0: 'person'}", "license": "test"}
SIDECAR = """name = "from-sidecar"
skeleton = "coco17"
head = "keypoints"
input_name = "images"
input_layout = "NCHW"
color = "RGB"
stride = 32
output = "output0"
keypoints = 17
"""


def tiny_onnx(path: Path, metadata: dict[str, str]) -> Path:
    """An ONNX file (images -> output0, one Identity) with ``metadata`` as custom props."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    images = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, "h", "w"])
    output = helper.make_tensor_value_info("preds", TensorProto.FLOAT, ["n", 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["pixels"], ["preds"])], "tiny",
                              [images], [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


@pytest.mark.shared
def test_the_real_yolo_export_describes_itself() -> None:
    spec = spec_from_onnx_metadata(shared_file(YOLO))
    assert spec is not None
    assert (spec.head, spec.skeleton, spec.input_name, spec.input_layout, spec.color) == \
        ("keypoints", "coco17", "images", "NCHW", "RGB")
    assert (spec.stride, spec.input_height, spec.pad_value, spec.centred, spec.fit) == \
        (32, 960, 114.0, True, "long_side")  # 1.5 x the training size 640
    assert spec.scale == pytest.approx((1 / 255,) * 3) and spec.mean == (0.0, 0.0, 0.0)
    assert spec.head_options == KeypointOptions(output="output0", keypoints=17)
    assert resolve_spec(shared_file(YOLO)) == spec


def test_a_tiny_onnx_with_metadata_gets_a_spec(tmp_path: Path) -> None:
    meta = {**ULTRALYTICS, "stride": "16", "imgsz": "[320, 480]"}
    spec = resolve_spec(tiny_onnx(tmp_path / "tiny-pose.onnx", meta))
    assert (spec.name, spec.input_name, spec.stride, spec.input_height) == \
        ("tiny-pose", "pixels", 16, 720)  # 1.5 x 480
    assert spec.head_options == KeypointOptions(output="preds", keypoints=17)
    assert "ONNX metadata of" in spec.source


def test_a_sidecar_or_an_explicit_spec_wins(tmp_path: Path) -> None:
    model = tiny_onnx(tmp_path / "m.onnx", ULTRALYTICS)
    explicit = tmp_path / "explicit.toml"
    explicit.write_text(SIDECAR.replace("from-sidecar", "explicit"))
    assert resolve_spec(model, explicit).name == "explicit"
    model.with_suffix(".toml").write_text(SIDECAR)
    assert resolve_spec(model).name == "from-sidecar"


@pytest.mark.shared
def test_a_sidecar_beside_the_real_model_wins(tmp_path: Path) -> None:
    model = tmp_path / "yolo11n-pose.onnx"
    model.symlink_to(shared_file(YOLO))
    model.with_suffix(".toml").write_text(SIDECAR)
    assert resolve_spec(model).name == "from-sidecar"


def test_an_unknown_keypoint_layout_is_one_clear_error(tmp_path: Path) -> None:
    model = tiny_onnx(tmp_path / "hands.onnx", {**ULTRALYTICS, "kpt_shape": "[21, 3]"})
    with pytest.raises(ModelError, match=r"hands\.onnx: kpt_shape = \[21, 3\] has no known "
                                         r"skeleton \(supported: \[17, 3\]\)"):
        resolve_spec(model)


@pytest.mark.parametrize("meta", [{}, {"task": "detect"}, {"task": "'segment'"}])
def test_a_model_without_pose_metadata_still_needs_a_spec(tmp_path: Path,
                                                         meta: dict[str, str]) -> None:
    model = tiny_onnx(tmp_path / "plain.onnx", meta)
    assert spec_from_onnx_metadata(model) is None
    with pytest.raises(ModelError, match=r"no model spec for .*plain\.onnx.*--model-spec"):
        resolve_spec(model)


@pytest.mark.parametrize(("key", "value", "match"), [
    ("kpt_shape", "[17, 2]", "kpt_shape = \\[17, 2\\] has no known skeleton"),
    ("kpt_shape", "__import__('os')", "metadata kpt_shape = .* is not a literal"),
    ("stride", "0", "metadata stride = '0'"),
    ("imgsz", "[640, -1]", "metadata imgsz"),
])
def test_bad_metadata_names_the_field(key: str, value: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        spec_from_metadata({**ULTRALYTICS, key: value}, input_name="i", output_name="o",
                           name="m", source="m.onnx")


def test_missing_size_and_stride_take_yolo_defaults() -> None:
    spec = spec_from_metadata({"task": "pose", "kpt_shape": "[17, 3]"}, input_name="i",
                              output_name="o", name="m", source="m.onnx")
    assert (spec.stride, spec.input_height) == (32, 960)
