"""Static INT8 quantization of an ONNX model (ONNX Runtime, QDQ), fed by the run's own
network inputs.

    inputs = list(network_inputs(frames, spec))          # the run's letterbox + normalising
    quantize_model(Path("m.onnx"), Path("m-int8.onnx"), inputs, spec=spec,
                   settings=QuantSettings(method="percentile"), cache=Path("m.calib"))

Calibration frames go through :func:`~streampose.pose.letterbox.letterbox_into`, the very
function the host preprocessing runs, at the spec's input height: the ranges are those of
the inputs the model sees in a run. :class:`FrameCalibration` hands them to ONNX Runtime's
calibrator one at a time (their sizes may differ). Ranges are computed once per
calibration method and cached (``calibration_cache_path``), so trying several sets of
layers left in float costs one quantization each, not one calibration each.
``nodes_to_exclude`` leaves nodes in float: they get no QuantizeLinear/DequantizeLinear of
their own (:func:`quantized_nodes` reads that back).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from streampose.errors import ModelError
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox, letterbox_into, plan_for_spec

__all__ = ["FORMATS", "METHODS", "FrameCalibration", "QuantSettings", "boxed_plan",
           "network_inputs", "node_names", "quantize_model", "quantized_nodes"]

log = logging.getLogger(__name__)

METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}
# QDQ: QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into QLinear* kernels
# when it loads the model; QOperator: the QLinear* nodes written into the file.
FORMATS = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}
_Q_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True, kw_only=True)
class QuantSettings:
    """One way to quantize: calibration method, per-channel weights, reduced range (7-bit,
    for x86 CPUs without VNNI), the model format (:data:`FORMATS`) and the nodes left in
    float."""

    method: str = "minmax"
    per_channel: bool = True
    reduce_range: bool = False
    format: str = "qdq"
    exclude: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.method, METHODS, "calibration method"),
                                     (self.format, FORMATS, "quantization format")):
            if value not in allowed:
                raise ModelError(f"{what} {value!r} (allowed: {' | '.join(allowed)})")

    def describe(self) -> str:
        """``percentile, per-channel, 3 nodes in float`` (``QOperator`` named when used)."""
        parts = [self.method, "per-channel" if self.per_channel else "per-tensor"]
        if self.reduce_range:
            parts.append("reduce-range")
        if self.format != "qdq":
            parts.append("QOperator")
        return ", ".join([*parts, f"{len(self.exclude)} nodes in float"])


def network_inputs(frames: Sequence[np.ndarray], spec: ModelSpec, *,
                   height: int | None = None,
                   size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Each BGR frame as the network input of a run: letterboxed as ``spec`` asks (at
    ``height``, else the spec's input height) and normalised, shaped ``(1, ...)`` float32.

    Frames of several sizes share the largest input (``in_w`` and ``in_h`` widened, as a
    run does to batch streams of several aspect ratios): ONNX Runtime's histogram
    calibrators need one shape. ``size=(H, W)`` instead fits every frame, aspect kept,
    into an H x W input (a TensorRT engine's fixed size; the run's own plan when the
    frame is the run's).
    """
    if size is not None:
        return [_network_input(f, boxed_plan(f.shape[1], f.shape[0], size, spec), spec)
                for f in frames]
    plans = [plan_for_spec(spec, src_w=f.shape[1], src_h=f.shape[0], height=height)
             for f in frames]
    width, height = max((p.in_w for p in plans), default=0), max((p.in_h for p in plans),
                                                                  default=0)
    return [_network_input(frame, replace(plan, in_w=width, in_h=height), spec)
            for frame, plan in zip(frames, plans, strict=True)]


def boxed_plan(src_w: int, src_h: int, size: tuple[int, int], spec: ModelSpec) -> Letterbox:
    """A ``src_w`` x ``src_h`` frame scaled, aspect kept, to fit an H x W input (padded
    as ``spec`` centres it): the run's plan for that input size."""
    in_h, in_w = size
    scale = min(in_w / src_w, in_h / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    pad_x, pad_y = ((in_w - new_w) // 2, (in_h - new_h) // 2) if spec.centred else (0, 0)
    return Letterbox(in_w=in_w, in_h=in_h, new_w=new_w, new_h=new_h, scale_x=new_w / src_w,
                     scale_y=new_h / src_h, pad_x=float(pad_x), pad_y=float(pad_y))


def _network_input(frame: np.ndarray, plan: Letterbox, spec: ModelSpec) -> np.ndarray:
    out = np.empty(spec.input_shape(1, plan.in_h, plan.in_w), dtype=np.float32)
    letterbox_into(frame, plan, out[0], spec=spec)
    return out


class FrameCalibration(CalibrationDataReader):
    """ONNX Runtime's calibration reader over prepared network inputs (one per batch)."""

    def __init__(self, *, inputs: Sequence[np.ndarray], input_name: str) -> None:
        self.inputs, self.input_name = list(inputs), input_name
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.inputs):
            return None
        self._next += 1
        return {self.input_name: self.inputs[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0

    def __len__(self) -> int:
        return len(self.inputs)


def quantize_model(model: Path, out: Path, inputs: Sequence[np.ndarray], *, spec: ModelSpec,
                   settings: QuantSettings, cache: Path | None = None) -> None:
    """Write ``model`` quantized to static INT8 (uint8 activations, int8 weights; QDQ or
    QOperator as ``settings.format`` says) to ``out``; ``cache`` keeps the calibration
    ranges of ``settings.method`` for the next call. The source model's metadata is kept
    (a YOLO export's describes its spec)."""
    reader = FrameCalibration(inputs=inputs, input_name=spec.input_name)
    with tempfile.TemporaryDirectory(prefix="streampose-quantize-") as tmp:
        source = Path(tmp) / "model.onnx"  # ORT writes MODEL-inferred.onnx beside its input
        shutil.copyfile(model, source)
        try:
            quantize_static(
                str(source), str(out), reader, quant_format=FORMATS[settings.format],
                per_channel=settings.per_channel, reduce_range=settings.reduce_range,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=METHODS[settings.method],
                nodes_to_exclude=list(settings.exclude), extra_options=_extra_options(settings),
                calibration_cache_path=None if cache is None else str(cache))
        except Exception as exc:  # ORT and onnx raise their own unexported types
            text = str(exc).strip().splitlines()
            raise ModelError(f"cannot quantize {model}: {text[0] if text else exc!r}") from exc
    _keep_metadata(model, out)


def _extra_options(settings: QuantSettings) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if settings.method == "percentile":
        options["CalibPercentile"] = 99.99
    if settings.method != "minmax":
        options["CalibTensorRangeSymmetric"] = False
    return options


def _keep_metadata(model: Path, out: Path) -> None:
    source = onnx.load(str(model), load_external_data=False)
    result = onnx.load(str(out))
    have = {p.key for p in result.metadata_props}
    missing = [p for p in source.metadata_props if p.key not in have]
    if missing:
        result.metadata_props.extend(missing)
        onnx.save(result, str(out))


def node_names(model: Path | onnx.ModelProto, op_types: Iterable[str] = ()) -> list[str]:
    """The names of ``model``'s nodes, in graph order; only those of ``op_types`` if given."""
    graph = (onnx.load(str(model)) if isinstance(model, Path) else model).graph
    wanted = set(op_types)
    return [n.name for n in graph.node if not wanted or n.op_type in wanted]


def quantized_nodes(model: Path | onnx.ModelProto) -> set[str]:
    """The names of the nodes of a QDQ model every input of which is a DequantizeLinear
    output: ONNX Runtime runs them in INT8 once it fuses the pairs. A node left in float
    keeps a float weight, so it is not among them. (In a QOperator model the quantized
    nodes are replaced by ``QLinear*`` nodes: the float ones are those that keep their
    original op type.)"""
    graph = (onnx.load(str(model)) if isinstance(model, Path) else model).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return {n.name for n in graph.node if n.op_type not in _Q_OPS
            and all(i in dequantized for i in n.input if i)}
