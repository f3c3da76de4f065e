"""What a quantized model costs and how far it strays: the groups to leave in float and
the interleaved timing (no speed is asserted)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from streampose.models.quant_probe import compute_groups, models_ms, op_profile
from tests.support.onnx_files import save_graph


def _shape_model(folder: Path) -> Path:
    """conv1 -> relu1 -> conv2 -> Reshape(to relu1's shape) -> out: the output decoding
    reads relu1's shape through a Shape node, as a YOLO export reads the neck's."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(0, 0.3, (8, c, 1, 1)).astype(np.float32),
                                       f"w{i}") for i, c in ((1, 3), (2, 8))]
    nodes = [helper.make_node("Conv", ["input", "w1"], ["c1"], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("Shape", ["r1"], ["s1"], name="shape1"),
             helper.make_node("Reshape", ["c2", "s1"], ["out"], name="reshape")]
    graph = helper.make_graph(
        nodes, "shape",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 8, 8])], weights)
    return save_graph(graph, folder / "shape.onnx")


def test_output_decoding_stops_at_a_shape_read(tmp_path: Path) -> None:
    groups = compute_groups(_shape_model(tmp_path))
    assert groups["output layers"] == ("conv2",)
    assert groups["output decoding"] == ("reshape",)  # not relu1 nor conv1 behind Shape


def test_models_are_timed_in_turns_one_median_each(tmp_path: Path) -> None:
    first = _shape_model(tmp_path)
    second = tmp_path / "copy.onnx"
    shutil.copyfile(first, second)
    batch = np.zeros((1, 3, 8, 8), np.float32)
    got = models_ms([first, second], batch, input_name="input", threads=1, runs=3)
    assert len(got) == 2 and all(ms > 0 for ms in got)


def test_op_profile_counts_each_operator_of_a_run(tmp_path: Path) -> None:
    model = _shape_model(tmp_path)
    batch = np.ones((1, 3, 8, 8), np.float32)
    profile = op_profile(model, batch, input_name="input", folder=tmp_path, runs=2, top=3)
    assert profile.ms > 0 and all(ms >= 0 for ms in profile.by_op.values())
    assert sum(n for op, n in profile.count.items() if "Conv" in op) == 2  # per run
    assert len(profile.top) == 3 and not list(tmp_path.glob("profile-*"))
