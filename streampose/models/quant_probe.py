"""What a quantized model costs and how far its outputs stray: ONNX Runtime timings and
output error against the float model, for ``streampose quantize``.

Timings are measured in the command (a few warm runs, then the models' runs interleaved
so that a machine shared with other jobs slows each alike; the median), never asserted by
a test. The output error is the cheap stand-in for accuracy that ranks which layers to
leave in float: the mean absolute difference against the float model's outputs over the
mean absolute float output, channel by channel, on some calibration inputs.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

__all__ = ["COMPUTE", "FloatReference", "OpProfile", "compute_groups", "models_ms",
           "op_profile", "session"]

WARM_RUNS = 2
TIMED_RUNS = 15
PROFILED_RUNS = 3


def session(model: Path | onnx.ModelProto, *, threads: int, profile: Path | None = None
            ) -> object:
    """A CPU ONNX Runtime session of ``model`` on ``threads`` intra-op threads; with
    ``profile``, ONNX Runtime's profiler on, its file named from that prefix."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if profile is not None:
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_profiling = True
        options.profile_file_prefix = str(profile)
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    return ort.InferenceSession(source, sess_options=options,
                                providers=["CPUExecutionProvider"])


def models_ms(models: Sequence[Path], batch: np.ndarray, *, input_name: str, threads: int,
              runs: int = TIMED_RUNS) -> list[float]:
    """Median milliseconds of one run of each of ``models`` on ``batch``, after
    :data:`WARM_RUNS` each; the timed runs take turns (model 1, 2, ..., 1, 2, ...), so
    load from other jobs weighs on every model alike and their ratio stays fair."""
    runners = [session(model, threads=threads) for model in models]
    feed = {input_name: batch}
    for runner in runners:
        for _ in range(WARM_RUNS):
            runner.run(None, feed)  # type: ignore[attr-defined]
    times: list[list[float]] = [[] for _ in runners]
    for _ in range(runs):
        for runner, spent in zip(runners, times, strict=True):
            start = time.perf_counter()
            runner.run(None, feed)  # type: ignore[attr-defined]
            spent.append(1000 * (time.perf_counter() - start))
    return [statistics.median(spent) for spent in times]


@dataclass(kw_only=True)
class OpProfile:
    """Where one run's time goes, by ONNX Runtime's profiler (one intra-op thread, nodes in
    sequence; the median run of a few): milliseconds and node count per operator type as
    the session runs them (after its fusions: ``QLinearConv``, ``FusedConv``...), and the
    slowest nodes."""

    ms: float
    by_op: dict[str, float]
    count: dict[str, int]
    top: list[tuple[str, str, float]]


def op_profile(model: Path, batch: np.ndarray, *, input_name: str, folder: Path,
               runs: int = PROFILED_RUNS, top: int = 8) -> OpProfile:
    """Profile ``runs`` runs of ``model`` on ``batch`` after a warm one (see
    :class:`OpProfile`); the profiler's file is written in ``folder`` and removed."""
    runner = session(model, threads=1, profile=folder / f"profile-{model.stem}")
    feed = {input_name: batch}
    for _ in range(runs + 1):
        runner.run(None, feed)  # type: ignore[attr-defined]
    path = Path(runner.end_profiling())  # type: ignore[attr-defined]
    events = json.loads(path.read_text(encoding="utf-8"))
    path.unlink()
    return _summary(events, runs, top)


def _summary(events: list[dict[str, Any]], runs: int, top: int) -> OpProfile:
    model_runs = [e for e in events if e.get("name") == "model_run"]
    start = model_runs[1]["ts"] if len(model_runs) > 1 else 0  # the warm run left out
    kernels = [e for e in events if e.get("cat") == "Node" and e["ts"] >= start
               and e.get("name", "").endswith("_kernel_time")]
    by_op: dict[str, float] = {}
    count: dict[str, int] = {}
    by_node: dict[tuple[str, str], float] = {}
    for event in kernels:
        op, ms = event["args"]["op_name"], event["dur"] / 1000 / runs
        by_op[op] = by_op.get(op, 0.0) + ms
        count[op] = count.get(op, 0) + 1
        key = (op, event["name"].removesuffix("_kernel_time"))
        by_node[key] = by_node.get(key, 0.0) + ms
    ordered = dict(sorted(by_op.items(), key=lambda item: -item[1]))
    slowest = sorted(by_node.items(), key=lambda item: -item[1])[:top]
    run_ms = statistics.median(e["dur"] for e in model_runs[1:]) / 1000 if \
        len(model_runs) > 1 else sum(by_op.values())
    return OpProfile(ms=run_ms, by_op=ordered, count={op: n // runs for op, n in count.items()},
                     top=[(op, name, ms) for (op, name), ms in slowest])


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
        """The relative error of ``model``'s outputs, channel by channel (see
        :func:`channel_error`), the worst output's."""
        got = self._run(model)
        return max(channel_error(np.stack([g[i] for g in got]),
                                 np.stack([w[i] for w in self.outputs]))
                   for i in range(len(self.outputs[0])))


def channel_error(got: np.ndarray, want: np.ndarray) -> float:
    """Mean |got - want| over mean |want| per channel, averaged over the channels; the
    larger of the two readings of "channel" (axis 2, after the stacked inputs and the
    batch: NCHW and YOLO's rows; and the last axis: NHWC). One output often holds
    unlike values (box pixels beside scores in 0..1, heatmaps beside PAFs): a global
    mean would see only the largest."""
    diff, size = np.abs(got - want), np.abs(want)
    axes = {2 % want.ndim, want.ndim - 1}
    return max(_per_channel(diff, size, axis) for axis in axes)


def _per_channel(diff: np.ndarray, size: np.ndarray, axis: int) -> float:
    others = tuple(a for a in range(diff.ndim) if a != axis)
    return float(np.mean(diff.mean(axis=others) / np.maximum(size.mean(axis=others), 1e-6)))


def compute_groups(model: Path, *, chunks: int = 6) -> dict[str, tuple[str, ...]]:
    """Named groups of nodes to try leaving in float, the usual suspects first: ``output
    decoding`` (the nodes after the last compute node on each path to a graph output:
    a concatenation of box pixels and scores in 0..1 on one 8-bit scale loses the
    scores), ``output layers`` (those last compute nodes), ``first layer``,
    ``layers after concat/resize`` (a concatenation of unlike tensors, such as maps in
    0..1 beside features in 0..30, shares one 8-bit scale: the layer reading it loses the
    small ones), ``concat/resize``, then the compute layers (Conv, MatMul, Gemm) in ``chunks``
    consecutive blocks of graph order."""
    graph = onnx.load(str(model), load_external_data=False).graph
    compute = [n.name for n in graph.node if n.op_type in COMPUTE]
    layers, decoding = _output_tail(graph)
    groups = {"output decoding": tuple(decoding), "output layers": tuple(layers),
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
SHAPE_ONLY = ("Shape", "Size")  # nodes that read their input's shape, not its values


def _after(graph: onnx.GraphProto, op_types: tuple[str, ...]) -> list[str]:
    """The compute nodes reading an output of a node of ``op_types``."""
    made = {o for n in graph.node if n.op_type in op_types for o in n.output}
    return [n.name for n in graph.node
            if n.op_type in COMPUTE and any(i in made for i in n.input)]


def _output_tail(graph: onnx.GraphProto) -> tuple[list[str], list[str]]:
    """``(layers, decoding)``: the compute nodes nearest each graph output, and the other
    nodes on the way there (a YOLO head's box decoding and final concatenation, a PAF
    model's last concat). A ``Shape`` node reads only its input's shape: the walk stops
    there (a YOLO export reshapes by the neck's output shapes; following them would put
    the neck's activations, the largest tensors, in float)."""
    producer = {o: n for n in graph.node for o in n.output}
    layers: dict[str, None] = {}
    decoding: dict[str, None] = {}
    todo = [o.name for o in graph.output]
    seen: set[str] = set()
    while todo:
        node = producer.get(todo.pop())
        if node is None or node.name in seen or node.op_type in SHAPE_ONLY:
            continue
        seen.add(node.name)
        if node.op_type in COMPUTE:
            layers[node.name] = None
        else:
            decoding[node.name] = None
            todo.extend(node.input)
    return list(layers), list(decoding)
