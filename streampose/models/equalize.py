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

The same holds through a ``Concat`` (:func:`concat_scalings`): a convolution whose output
goes only into a channel concatenation read only by convolutions can scale its channels if
each of those divides its weights on the same channels of the concatenation. A PAF
network's refinement stage concatenates the previous stage's maps (+-1) beside backbone
features (0..34): on the concatenation's one 8-bit scale the maps keep a dozen levels.
Scaled up to the features' range, they keep all 256; depthwise readers keep one weight
scale per channel, so their weights lose nothing (``strength`` 1 there).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["ConcatScaling", "ConvPair", "concat_scalings", "consumers_of", "conv_pairs", "equalize"]

log = logging.getLogger(__name__)

SMALLEST = 1e-3  # a channel's range is taken as at least this fraction of the widest


@dataclass(frozen=True)
class ConvPair:
    """``first`` feeds ``second`` alone (through ``relu`` when not empty)."""

    first: onnx.NodeProto
    second: onnx.NodeProto
    relu: str = ""


@dataclass(frozen=True)
class ConcatScaling:
    """``first`` feeds only input ``index`` of ``concat`` (axis 1), read by ``readers``."""

    first: onnx.NodeProto
    concat: onnx.NodeProto
    index: int
    readers: tuple[onnx.NodeProto, ...]


def conv_pairs(graph: onnx.GraphProto) -> list[ConvPair]:
    """Every convolution pair that can be rescaled (see the module doc)."""
    consumers = consumers_of(graph)
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


def concat_scalings(graph: onnx.GraphProto) -> list[ConcatScaling]:
    """Every convolution whose output channels can be rescaled through a ``Concat`` (see
    the module doc): its output goes only to a channel concatenation (axis 1) whose output
    only convolutions read, as their data input."""
    consumers = consumers_of(graph)
    outputs = {o.name for o in graph.output}
    producer = {o: n for n in graph.node for o in n.output}
    found = []
    for concat in graph.node:
        readers = consumers.get(concat.output[0], []) if concat.op_type == "Concat" else []
        if not readers or _axis(concat) != 1 or concat.output[0] in outputs or \
                any(r.op_type != "Conv" or r.input[0] != concat.output[0] for r in readers):
            continue
        for index, name in enumerate(concat.input):
            first = producer.get(name)
            if first is not None and first.op_type == "Conv" and name not in outputs and \
                    len(consumers.get(name, [])) == 1 and list(concat.input).count(name) == 1:
                found.append(ConcatScaling(first, concat, index, tuple(readers)))
    return found


def consumers_of(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Each tensor's readers, in graph order."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def _axis(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 0)


def equalize(model: Path, out: Path, inputs: Sequence[np.ndarray], *, input_name: str,
             strength: float = 0.5) -> int:
    """Write ``model`` equalized to ``out``; returns how many convolution pairs and
    convolutions feeding a concatenation were rescaled."""
    proto = onnx.load(str(model))
    uses: dict[str, int] = {}
    for node in proto.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    weights = {i.name: i for i in proto.graph.initializer if uses.get(i.name) == 1}
    pairs = [p for p in conv_pairs(proto.graph) if _scalable(p, weights)]
    concats = [c for c in concat_scalings(proto.graph) if _concat_scalable(c, weights)]
    if not pairs and not concats:  # e.g. SiLU between every two convolutions (YOLO)
        onnx.save(proto, str(out))
        return 0
    names = [p.relu or p.first.output[0] for p in pairs]
    for concat in {c.concat.output[0]: c.concat for c in concats}.values():
        names += [n for n in (*concat.input, concat.output[0]) if n not in names]
    ranges = dict(zip(names, _channel_ranges(proto, names, inputs, input_name), strict=True))
    for pair in pairs:
        spread = ranges[pair.relu or pair.first.output[0]]
        widest = float(spread.max())
        if widest > 0:
            scale = (widest / np.maximum(spread, SMALLEST * widest)) ** strength
            _rescale(pair, scale.astype(np.float32), weights)
    for scaling in concats:
        widths = [len(ranges[name]) for name in scaling.concat.input]
        _rescale_concat(scaling, ranges[scaling.concat.output[0]],
                        sum(widths[:scaling.index]), weights, strength)
    onnx.save(proto, str(out))
    log.info("equalized %d convolution pairs and %d convolutions into a concatenation",
             len(pairs), len(concats))
    return len(pairs) + len(concats)


def _concat_scalable(scaling: ConcatScaling, weights: dict[str, onnx.TensorProto]) -> bool:
    """The first's weights (and bias) and every reader's weights are initializers used by
    them alone, and the readers are plain or depthwise convolutions."""
    names = [scaling.first.input[1], *scaling.first.input[2:3],
             *(r.input[1] for r in scaling.readers)]
    if not all(n in weights for n in names):
        return False
    return all(_group(r) == 1 or numpy_helper.to_array(weights[r.input[1]]).shape[1] == 1
               for r in scaling.readers)


def _rescale_concat(scaling: ConcatScaling, spread: np.ndarray, start: int,
                    weights: dict[str, onnx.TensorProto], strength: float) -> None:
    """Scale the first's output, channels ``start``... of the concatenation whose channel
    ranges are ``spread``, towards the concatenation's widest (fully when every reader is
    depthwise: one weight scale per channel, nothing lost). One factor for the whole
    output: a map channel quiet on the calibration frames must not be blown up."""
    width = numpy_helper.to_array(weights[scaling.first.input[1]]).shape[0]
    part, widest = float(spread[start:start + width].max()), float(spread.max())
    if widest <= 0 or part <= 0:
        return
    power = 1.0 if all(_group(r) != 1 for r in scaling.readers) else strength
    scale = np.full(width, (widest / part) ** power, np.float32)
    _scale_output(scaling.first, scale, weights)
    for reader in scaling.readers:
        value = numpy_helper.to_array(weights[reader.input[1]]).copy()
        if _group(reader) == 1:
            value[:, start:start + width] /= scale.reshape(1, -1, 1, 1)
        else:
            value[start:start + width] /= scale.reshape(-1, 1, 1, 1)
        _store(weights, reader.input[1], value)


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
    _scale_output(pair.first, scale, weights)
    second = numpy_helper.to_array(weights[pair.second.input[1]])
    shape = (-1, 1, 1, 1) if _group(pair.second) != 1 else (1, -1, 1, 1)
    _store(weights, pair.second.input[1], second / scale.reshape(shape))


def _scale_output(conv: onnx.NodeProto, scale: np.ndarray,
                  weights: dict[str, onnx.TensorProto]) -> None:
    """Multiply ``conv``'s output channel ``c`` by ``scale[c]`` (weights and bias)."""
    first = numpy_helper.to_array(weights[conv.input[1]])
    _store(weights, conv.input[1], first * scale.reshape(-1, 1, 1, 1))
    if len(conv.input) > 2 and conv.input[2]:
        bias = numpy_helper.to_array(weights[conv.input[2]])
        _store(weights, conv.input[2], bias * scale)


def _store(weights: dict[str, onnx.TensorProto], name: str, value: np.ndarray) -> None:
    weights[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
