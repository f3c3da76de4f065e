"""What a quantized model costs and how far its outputs stray: ONNX Runtime timings and
output error against the float model, for ``streampose quantize``.

Timings are measured in the command (a few warm runs, the median), never asserted by a
test. The output error is the cheap stand-in for accuracy that ranks which layers to
leave in float: the mean absolute difference of every output against the float model's,
over the mean absolute float output, on the calibration inputs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

__all__ = ["COMPUTE", "FloatReference", "compute_groups", "model_ms", "session"]

WARM_RUNS = 2
TIMED_RUNS = 5


def session(model: Path, *, threads: int) -> object:
    """A CPU ONNX Runtime session of ``model`` on ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(model), sess_options=options,
                                providers=["CPUExecutionProvider"])


def model_ms(model: Path, batch: np.ndarray, *, input_name: str, threads: int,
             runs: int = TIMED_RUNS) -> float:
    """Median milliseconds of one run of ``model`` on ``batch`` after :data:`WARM_RUNS`."""
    runner = session(model, threads=threads)
    feed = {input_name: batch}
    for _ in range(WARM_RUNS):
        runner.run(None, feed)  # type: ignore[attr-defined]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.run(None, feed)  # type: ignore[attr-defined]
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


class FloatReference:
    """The float model's outputs on some inputs, to measure a quantized model against."""

    def __init__(self, model: Path, inputs: Sequence[np.ndarray], *, input_name: str,
                 threads: int) -> None:
        self.inputs, self.input_name, self.threads = list(inputs), input_name, threads
        self.outputs = self._run(model)

    def _run(self, model: Path) -> list[list[np.ndarray]]:
        runner = session(model, threads=self.threads)
        return [list(runner.run(None, {self.input_name: x}))  # type: ignore[attr-defined]
                for x in self.inputs]

    def error(self, model: Path) -> float:
        """Mean |quantized - float| over mean |float|, every output of every input."""
        got = self._run(model)
        diff = sum(float(np.abs(g - w).sum()) for gs, ws in zip(got, self.outputs, strict=True)
                   for g, w in zip(gs, ws, strict=True))
        size = sum(float(np.abs(w).sum()) for ws in self.outputs for w in ws)
        return diff / max(size, 1e-12)


def compute_groups(model: Path, *, chunks: int = 6) -> dict[str, tuple[str, ...]]:
    """Named groups of nodes to try leaving in float, the usual suspects first: ``output
    layers`` (the last compute node on each path to a graph output), ``first layer``,
    ``layers after concat/resize`` (a concatenation of unlike tensors, such as maps in
    0..1 beside features in 0..30, shares one 8-bit scale: the layer reading it loses the
    small ones), ``concat/resize``, then the compute layers (Conv, MatMul, Gemm) in ``chunks``
    consecutive blocks of graph order."""
    graph = onnx.load(str(model), load_external_data=False).graph
    compute = [n.name for n in graph.node if n.op_type in COMPUTE]
    groups = {"output layers": tuple(_output_layers(graph)),
              "first layer": tuple(compute[:1]),
              "layers after concat/resize": tuple(_after(graph, ("Concat", "Resize"))),
              "concat/resize": tuple(n.name for n in graph.node
                                     if n.op_type in ("Concat", "Resize"))}
    size = max(1, -(-len(compute) // chunks))
    for start in range(0, len(compute), size):
        block = compute[start:start + size]
        groups[f"layers {start + 1}-{start + len(block)} of {len(compute)}"] = tuple(block)
    return {name: nodes for name, nodes in groups.items() if nodes}


COMPUTE = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def _after(graph: onnx.GraphProto, op_types: tuple[str, ...]) -> list[str]:
    """The compute nodes reading an output of a node of ``op_types``."""
    made = {o for n in graph.node if n.op_type in op_types for o in n.output}
    return [n.name for n in graph.node
            if n.op_type in COMPUTE and any(i in made for i in n.input)]


def _output_layers(graph: onnx.GraphProto) -> list[str]:
    """The compute nodes nearest each graph output, walking back through the others."""
    producer = {o: n for n in graph.node for o in n.output}
    found: dict[str, None] = {}
    todo = [o.name for o in graph.output]
    seen: set[str] = set()
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in COMPUTE:
            found[node.name] = None
        else:
            todo.extend(node.input)
    return list(found)
