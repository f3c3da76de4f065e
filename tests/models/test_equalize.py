"""Cross-layer range equalization: the same function, channels of similar range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from streampose.models.equalize import conv_pairs, equalize
from tests.models.test_quantize import tiny_model


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


def test_pairs_through_relu_and_not_into_the_output(tmp_path: Path) -> None:
    graph = onnx.load(str(tiny_model(tmp_path))).graph
    pairs = [(p.first.name, p.second.name, p.relu) for p in conv_pairs(graph)]
    assert pairs == [("conv1", "conv2", "r1"), ("conv2", "head", "r2")]


def test_equalized_model_computes_the_same_with_even_channel_ranges(tmp_path: Path) -> None:
    model = tiny_model(tmp_path)
    proto = onnx.load(str(model))
    weights = {i.name: i for i in proto.graph.initializer}
    skewed = numpy_helper.to_array(weights["conv1_w"]).copy()
    skewed[0] *= 50.0  # one channel 50x wider than the others
    weights["conv1_w"].CopyFrom(numpy_helper.from_array(skewed, "conv1_w"))
    onnx.save(proto, str(model))
    rng = np.random.default_rng(2)
    inputs = [rng.uniform(0, 1, (1, 3, 16, 24)).astype(np.float32) for _ in range(3)]
    out = tmp_path / "eq.onnx"
    assert equalize(model, out, inputs, input_name="input", strength=1.0) == 2
    np.testing.assert_allclose(_run(out, inputs[0]), _run(model, inputs[0]), rtol=1e-4,
                               atol=1e-4)
    before, after = _ranges(model, inputs), _ranges(out, inputs)
    assert before.max() / before[before > 0].min() > 10
    live = after[after > 0]
    assert live.max() / live.min() < 1.01  # every live channel of r1 spans the same range


def _ranges(model: Path, inputs: list[np.ndarray]) -> np.ndarray:
    """The largest value of each channel of the first ReLU's output."""
    proto = onnx.load(str(model))
    proto.graph.output.append(onnx.helper.make_empty_tensor_value_info("r1"))
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return np.max([session.run(["r1"], {"input": x})[0].max(axis=(0, 2, 3)) for x in inputs],
                  axis=0)


def test_a_model_without_pairs_is_written_unchanged(tmp_path: Path) -> None:
    model = tiny_model(tmp_path)
    proto = onnx.load(str(model))
    for node in proto.graph.node:  # Relu -> Sigmoid: no longer scale-invariant
        if node.op_type == "Relu":
            node.op_type = "Sigmoid"
    onnx.save(proto, str(model))
    out = tmp_path / "eq.onnx"
    x = np.ones((1, 3, 8, 8), np.float32)
    assert equalize(model, out, [x], input_name="input") == 0
    np.testing.assert_array_equal(_run(out, x), _run(model, x))
