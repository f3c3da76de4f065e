"""Which layers to leave in float first: each activation rounded alone, ranked by output
error per multiply-add, on stand-in models built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streampose.models.quant_sensitivity import activations, sensitive_groups
from tests.models.test_quantize import tiny_model


def _inputs(count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.uniform(0, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(count)]


def test_activations_follow_a_fused_relu_and_skip_the_output(tmp_path: Path) -> None:
    graph = onnx.load(str(tiny_model(tmp_path))).graph
    assert [(a.tensor, a.nodes) for a in activations(graph)] == [
        ("r1", ("conv1", "relu1", "conv2")), ("r2", ("conv2", "relu2", "head"))]


def test_a_concatenation_reading_a_tensor_stays_quantized() -> None:
    weights = [numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv"),
             helper.make_node("Concat", ["c", "input"], ["cat"], axis=1, name="cat"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
             helper.make_node("Add", ["cat", "cat"], ["out"], name="add")]
    graph = helper.make_graph(
        [*nodes[:3], nodes[3]], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("out", "s")],
        weights)
    assert [(a.tensor, a.nodes) for a in activations(graph)] == [("c", ("conv", "sig"))]


def test_the_badly_conditioned_layer_is_chosen_first(tmp_path: Path) -> None:
    """conv2's channel 0 is 1000x smaller than the others and ``head`` reads it with
    1000x the weights: rounding r2 to 8 bits loses it, rounding r1 costs little."""
    model = tiny_model(tmp_path)
    proto = onnx.load(str(model))
    weights = {i.name: i for i in proto.graph.initializer}
    conv2 = numpy_helper.to_array(weights["conv2_w"]).copy()
    conv2[0] = np.abs(conv2[0]) * 1e-3  # reads r1 >= 0: positive, through relu2
    head = numpy_helper.to_array(weights["head_w"]).copy()
    head[:, 0] *= 1e3
    bias = numpy_helper.to_array(weights["conv2_b"]).copy()
    bias[0] = 0.0
    for name, value in (("conv2_w", conv2), ("head_w", head), ("conv2_b", bias)):
        weights[name].CopyFrom(numpy_helper.from_array(value, name))
    onnx.save(proto, str(model))
    groups = sensitive_groups(model, _inputs(), input_name="input", budgets=(0.1, 0.9))
    # r1's group (conv1 + conv2) and r2's (conv2 + head) each exceed 10% of the
    # multiply-adds, and both do not fit in 90%: the one that matters is taken
    assert groups == {"sensitive layers, 90% of multiply-adds": ("conv2", "relu2", "head")}
