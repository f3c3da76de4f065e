"""Cross-layer range equalization: the same function, channels of similar range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from streampose.models.equalize import concat_scalings, conv_pairs, equalize
from tests.models.test_quantize import tiny_model
from tests.support.onnx_files import save_graph


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


def _concat_model(folder: Path) -> Path:
    """Two maps (conv ``maps``, small values) concatenated beside wide features (a ReLU),
    read by a depthwise and a plain convolution, both into the outputs."""
    rng = np.random.default_rng(3)

    def weight(name: str, shape: tuple[int, ...], scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    inits = [weight("feat_w", (6, 3, 3, 3), 3.0), weight("maps_w", (2, 6, 1, 1), 0.01),
             weight("maps_b", (2,), 0.01), weight("dw_w", (8, 1, 3, 3), 0.5),
             weight("pw_w", (4, 8, 1, 1), 0.5)]
    nodes = [helper.make_node("Conv", ["input", "feat_w"], ["f"], pads=[1] * 4, name="feat"),
             helper.make_node("Relu", ["f"], ["fr"], name="relu"),
             helper.make_node("Conv", ["fr", "maps_w", "maps_b"], ["m"], name="maps"),
             helper.make_node("Concat", ["m", "fr"], ["cat"], axis=1, name="cat"),
             helper.make_node("Conv", ["cat", "dw_w"], ["out"], pads=[1] * 4, group=8,
                              name="dw"),
             helper.make_node("Conv", ["cat", "pw_w"], ["out2"], name="pw")]
    graph = helper.make_graph(
        nodes, "concat",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
         for n in ("out", "out2")], inits)
    return save_graph(graph, folder / "concat.onnx")


def test_maps_are_scaled_up_through_a_concat_to_the_features_range(tmp_path: Path) -> None:
    model = _concat_model(tmp_path)
    found = concat_scalings(onnx.load(str(model)).graph)
    assert [(s.first.name, s.index, [r.name for r in s.readers]) for s in found] == \
        [("maps", 0, ["dw", "pw"])]
    rng = np.random.default_rng(4)
    inputs = [rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(2)]
    out = tmp_path / "eq.onnx"
    assert equalize(model, out, inputs, input_name="input") == 1
    for name in ("out", "out2"):
        np.testing.assert_allclose(_output(out, inputs[0], name), _output(model, inputs[0], name),
                                   rtol=1e-4, atol=1e-4)
    before, after = _output(model, inputs[0], "m"), _output(out, inputs[0], "m")
    features = np.abs(_output(model, inputs[0], "fr")).max()
    assert np.abs(before).max() < features / 10
    # a plain conv reads it too: the spread is shared, sqrt(features / maps) each
    assert np.abs(after).max() / np.abs(before).max() > 0.3 * np.sqrt(
        features / np.abs(before).max())


def _output(model: Path, x: np.ndarray, name: str) -> np.ndarray:
    proto = onnx.load(str(model))
    if name not in {o.name for o in proto.graph.output}:
        proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return np.asarray(session.run([name], {"input": x})[0])
