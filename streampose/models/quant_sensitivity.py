"""Which layers to leave in float first, for ``streampose quantize``: each activation's
8-bit rounding tried alone, ranked by the output error it causes per multiply-add of the
layers around it.

    groups = sensitive_groups(Path("m.onnx"), inputs, input_name="input")
    # {"sensitive layers, 3% of multiply-adds": ("conv7", "conv8", ...), ...}

An activation tensor (a compute layer's output, after the ReLU that ONNX Runtime fuses
into it) is rounded to uint8 on its own calibration range (minmax over the inputs) by a
QuantizeLinear/DequantizeLinear pair inserted into the float model, everything else float:
the output error (:func:`~.quant_probe.channel_error`) is what that tensor's quantization
alone costs. Leaving the layers that write and read it in float removes that error at the
price of their multiply-adds. Tensors are taken by error per multiply-add, best first, into
each budget (a fraction of the model's multiply-adds) while they fit: a PAF network's
refinement stages hold small, badly conditioned layers (channels of 0.003 read with
weights of 60) that an 8-bit scale wipes out, cheap to keep in float; its large layers
quantize well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from streampose.models.equalize import consumers_of
from streampose.models.quant_probe import COMPUTE, SHAPE_ONLY, channel_error, session

__all__ = ["BUDGETS", "Activation", "activations", "sensitive_groups"]

log = logging.getLogger(__name__)

BUDGETS = (0.04, 0.08, 0.12, 0.16)  # fractions of the model's multiply-adds left in float
FUSED = ("Relu", "Clip")  # activations ONNX Runtime fuses into the layer before
# readers not left in float with a tensor: a float Concat would dequantize its other,
# often large, inputs and quantize its output again for the next layer (measured on a PAF
# network: 1.4x instead of 1.8x), and its 8-bit output rounds the tensor all the same
COPIES = ("Concat",)
SENSITIVITY_INPUTS = 2  # inputs each tensor's error is measured on


@dataclass(frozen=True)
class Activation:
    """A tensor to round and the nodes that write and read it (leaving them in float
    leaves it in float)."""

    tensor: str
    nodes: tuple[str, ...]


def activations(graph: onnx.GraphProto) -> list[Activation]:
    """Each compute layer's output (after a fused ReLU or Clip read by nothing else) that
    is not a graph output, with its writer (and the ReLU) and its readers but a
    concatenation (:data:`COPIES`)."""
    consumers = consumers_of(graph)
    outputs = {o.name for o in graph.output}
    found = []
    for node in graph.node:
        if node.op_type not in COMPUTE:
            continue
        tensor, writers = node.output[0], [node.name]
        after = consumers.get(tensor, [])
        if len(after) == 1 and after[0].op_type in FUSED and tensor not in outputs:
            tensor, writers = after[0].output[0], [node.name, after[0].name]
        readers = consumers.get(tensor, [])
        kept = [n.name for n in readers if n.op_type not in (*SHAPE_ONLY, *COPIES)]
        if tensor not in outputs and readers:
            found.append(Activation(tensor, tuple(dict.fromkeys([*writers, *kept]))))
    return found


def sensitive_groups(model: Path, inputs: Sequence[np.ndarray], *, input_name: str,
                     budgets: Sequence[float] = BUDGETS) -> dict[str, tuple[str, ...]]:
    """Per budget, the nodes to leave in float (see the module doc); empty budgets left
    out."""
    proto = onnx.load(str(model))
    acts = activations(proto.graph)
    if not acts:
        return {}
    probe = _Probe(proto, list(inputs)[:SENSITIVITY_INPUTS], input_name)
    macs = probe.macs()
    total = sum(macs.values()) or 1.0
    scored = []
    for act in acts:
        cost = max(sum(macs.get(n, 0.0) for n in act.nodes), probe.size(act.tensor))
        error = probe.error_alone(act.tensor)
        scored.append((error / cost, cost, act))
        log.debug("%s alone: output error %.4f, %.3g multiply-adds", act.tensor, error, cost)
    scored.sort(key=lambda s: -s[0])
    return {name: nodes for name, nodes in
            ((f"sensitive layers, {b:.0%} of multiply-adds", _fill(scored, b * total))
             for b in budgets) if nodes}


def _fill(scored: list[tuple[float, float, Activation]], budget: float) -> tuple[str, ...]:
    """The nodes of the best-scored activations that fit in ``budget`` multiply-adds."""
    chosen: dict[str, None] = {}
    spent = 0.0
    for _, cost, act in scored:
        if spent + cost <= budget:
            spent += cost
            chosen.update(dict.fromkeys(act.nodes))
    return tuple(chosen)


class _Probe:
    """The float model's outputs, tensor ranges and layer sizes on a few inputs."""

    def __init__(self, proto: onnx.ModelProto, inputs: list[np.ndarray], input_name: str
                 ) -> None:
        self.proto, self.inputs, self.input_name = proto, inputs, input_name
        graph = proto.graph
        outputs = [o.name for o in graph.output]
        probed = [n for n in dict.fromkeys(
            [a.tensor for a in activations(graph)]
            + [n.output[0] for n in graph.node if n.op_type in COMPUTE]) if n not in outputs]
        values = self._run(_with_outputs(proto, probed))
        self.reference = [v[:len(outputs)] for v in values]
        self.ranges: dict[str, tuple[float, float]] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        for run in values:
            for name, value in zip([*outputs, *probed], run, strict=True):
                low, high = self.ranges.get(name, (0.0, 0.0))
                self.ranges[name] = (min(low, float(value.min())), max(high, float(value.max())))
                self.shapes[name] = value.shape

    def _run(self, proto: onnx.ModelProto) -> list[list[np.ndarray]]:
        runner = session(proto, threads=1)
        return [list(runner.run(None, {self.input_name: x}))  # type: ignore[attr-defined]
                for x in self.inputs]

    def size(self, tensor: str) -> float:
        return float(np.prod(self.shapes.get(tensor, (1,))))

    def macs(self) -> dict[str, float]:
        """Multiply-adds of each compute node with an initializer weight: the weight's
        size times the output's positions (elements over output channels)."""
        weights = {i.name: i.dims for i in self.proto.graph.initializer}
        found = {}
        for node in self.proto.graph.node:
            dims = weights.get(node.input[1]) if len(node.input) > 1 else None
            shape = self.shapes.get(node.output[0])
            if node.op_type in COMPUTE and dims is not None and shape:
                channels = shape[1] if node.op_type in ("Conv", "ConvTranspose") else shape[-1]
                found[node.name] = float(np.prod(dims)) * self.size(node.output[0]) / channels
        return found

    def error_alone(self, tensor: str) -> float:
        """The output error with ``tensor`` alone rounded to uint8 on its range."""
        got = self._run(_rounded(self.proto, tensor, self.ranges[tensor]))
        return max(channel_error(np.stack([g[i] for g in got]),
                                 np.stack([w[i] for w in self.reference]))
                   for i in range(len(self.reference[0])))


def _with_outputs(proto: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    probe.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    return probe


def _rounded(proto: onnx.ModelProto, tensor: str, bounds: tuple[float, float]
             ) -> onnx.ModelProto:
    """``proto`` with ``tensor`` through QuantizeLinear/DequantizeLinear (uint8, asymmetric,
    ``bounds`` widened to hold 0) before its readers."""
    low, high = min(bounds[0], 0.0), max(bounds[1], 0.0)
    scale = max(high - low, 1e-8) / 255.0
    zero = int(np.clip(round(-low / scale), 0, 255))
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    rounded = f"{tensor}__rounded"
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == tensor:
                node.input[i] = rounded
    graph.initializer.extend([
        numpy_helper.from_array(np.array(scale, np.float32), f"{tensor}__scale"),
        numpy_helper.from_array(np.array(zero, np.uint8), f"{tensor}__zero")])
    graph.node.extend([
        helper.make_node("QuantizeLinear", [tensor, f"{tensor}__scale", f"{tensor}__zero"],
                         [f"{tensor}__q"]),
        helper.make_node("DequantizeLinear", [f"{tensor}__q", f"{tensor}__scale",
                                              f"{tensor}__zero"], [rounded])])
    return out
