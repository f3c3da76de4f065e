"""Cross-layer range equalization before INT8: the float model, rescaled so that each
channel between two convolutions spans a similar range.

A convolution ``A`` whose output goes only into convolution ``B`` (directly, or through a
ReLU, which commutes with a positive scale) can scale its output channel ``c`` by
``s_c`` if ``B`` divides its weights reading channel ``c`` by ``s_c``: the float model
computes the same function. One 8-bit scale per tensor then fits every channel, instead of
the widest (MobileNet v1's linear depthwise outputs reach +-300 in a few channels and
+-0.5 in most: on one scale the small channels round to nothing). ``s_c`` is
``(widest / r_c) ** strength``, ``r_c`` the channel's largest magnitude on the calibration
inputs; ``strength`` 0.5 shares the spread between the activation and ``B``'s weights.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["ConvPair", "conv_pairs", "equalize"]

log = logging.getLogger(__name__)

SMALLEST = 1e-3  # a channel's range is taken as at least this fraction of the widest


@dataclass(frozen=True)
class ConvPair:
    """``first`` feeds ``second`` alone (through ``relu`` when not empty)."""

    first: onnx.NodeProto
    second: onnx.NodeProto
    relu: str = ""


def conv_pairs(graph: onnx.GraphProto) -> list[ConvPair]:
    """Every convolution pair that can be rescaled (see the module doc)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    pairs = []
    for node in graph.node:
        pair = _pair(node, consumers, outputs)
        if pair is not None:
            pairs.append(pair)
    return pairs


def _pair(node: onnx.NodeProto, consumers: dict[str, list[onnx.NodeProto]],
          outputs: set[str]) -> ConvPair | None:
    if node.op_type != "Conv" or node.output[0] in outputs:
        return None
    after = consumers.get(node.output[0], [])
    relu = ""
    if len(after) == 1 and after[0].op_type == "Relu" and after[0].output[0] not in outputs:
        relu, after = after[0].output[0], consumers.get(after[0].output[0], [])
    if len(after) != 1 or after[0].op_type != "Conv" or after[0].input[0] != \
            (relu or node.output[0]):
        return None
    return ConvPair(node, after[0], relu)


def equalize(model: Path, out: Path, inputs: Sequence[np.ndarray], *, input_name: str,
             strength: float = 0.5) -> int:
    """Write ``model`` equalized to ``out``; returns how many pairs were rescaled."""
    proto = onnx.load(str(model))
    uses: dict[str, int] = {}
    for node in proto.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    weights = {i.name: i for i in proto.graph.initializer if uses.get(i.name) == 1}
    pairs = [p for p in conv_pairs(proto.graph) if _scalable(p, weights)]
    if not pairs:  # e.g. SiLU between every two convolutions (YOLO)
        onnx.save(proto, str(out))
        return 0
    ranges = _channel_ranges(proto, [p.relu or p.first.output[0] for p in pairs], inputs,
                             input_name)
    for pair, spread in zip(pairs, ranges, strict=True):
        widest = float(spread.max())
        if widest > 0:
            scale = (widest / np.maximum(spread, SMALLEST * widest)) ** strength
            _rescale(pair, scale.astype(np.float32), weights)
    onnx.save(proto, str(out))
    log.info("equalized %d convolution pairs", len(pairs))
    return len(pairs)


def _scalable(pair: ConvPair, weights: dict[str, onnx.TensorProto]) -> bool:
    """Both weights (and the first's bias) are initializers used by them alone, and
    ``second`` reads channels one to one (a plain or a depthwise convolution)."""
    names = [pair.first.input[1], pair.second.input[1], *pair.first.input[2:3]]
    if not all(n in weights for n in names):
        return False
    second = numpy_helper.to_array(weights[pair.second.input[1]])
    return bool(_group(pair.second) == 1 or second.shape[1] == 1)


def _group(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _channel_ranges(proto: onnx.ModelProto, names: list[str], inputs: Sequence[np.ndarray],
                    input_name: str) -> list[np.ndarray]:
    """The largest magnitude of each channel (axis 1) of tensors ``names``."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    ranges = [np.zeros(0, np.float32)] * len(names)
    for x in inputs:
        for i, value in enumerate(session.run(None, {input_name: x})):
            peak = np.abs(value).max(axis=tuple(a for a in range(value.ndim) if a != 1))
            ranges[i] = peak if not ranges[i].size else np.maximum(ranges[i], peak)
    return ranges


def _rescale(pair: ConvPair, scale: np.ndarray, weights: dict[str, onnx.TensorProto]) -> None:
    first = numpy_helper.to_array(weights[pair.first.input[1]])
    _store(weights, pair.first.input[1], first * scale.reshape(-1, 1, 1, 1))
    if len(pair.first.input) > 2 and pair.first.input[2]:
        bias = numpy_helper.to_array(weights[pair.first.input[2]])
        _store(weights, pair.first.input[2], bias * scale)
    second = numpy_helper.to_array(weights[pair.second.input[1]])
    shape = (-1, 1, 1, 1) if _group(pair.second) != 1 else (1, -1, 1, 1)
    _store(weights, pair.second.input[1], second / scale.reshape(shape))


def _store(weights: dict[str, onnx.TensorProto], name: str, value: np.ndarray) -> None:
    weights[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
