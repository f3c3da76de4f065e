"""``streampose quantize``: an ONNX model to static INT8 that keeps its accuracy.

    report = quantize(QuantRequest(model=Path("m.onnx"), out=Path("m-int8.onnx"),
                                   calibrate=("clip.mp4", "images/"),
                                   images="coco4", annotations=Path("coco4/test_coco.json")))

1. Calibration frames are read from the sources (spread over each video) and prepared
   by the run's own letterbox and normalisation (:func:`~.models.quantize.network_inputs`).
2. Each calibration method asked for quantizes the whole model, as it is and after
   cross-layer range equalization (:mod:`~.models.equalize`); the one whose outputs
   stray least from the float model's (channel by channel) wins.
3. With ``--eval``, COCO AP is measured (:func:`~.evaluate.evaluate`, the ``streampose
   eval`` pipeline) before and after. While the drop exceeds ``max_drop``, layers are
   left in float: first the sensitivity-ranked sets
   (:func:`~.models.quant_sensitivity.sensitive_groups`: each activation rounded alone,
   the layers around those that cost most output error per multiply-add, in budgets of
   4, 8, 12 and 16% of the multiply-adds), smallest first, until one is within the drop;
   then, if none is, groups one per step: each remaining group is tried on top of those
   chosen and the one that lowers the output error most is kept
   (:func:`~.models.quant_probe.compute_groups`: output decoding, output layers, first
   layer, concat/resize, blocks of layers; when no group lowers the error by more than
   2%, the first in that order: :func:`pick_group`); each step's AP is measured.
4. The model, its spec sidecar (``OUT.toml``) and the report (``OUT.json``) are written;
   the report gives AP before and after, model milliseconds per frame at one thread and at
   the machine's threads (float and INT8 runs taking turns in one process, so a shared
   machine's load weighs on both alike), ONNX Runtime's per-operator profile of both
   models at one thread (where the INT8 model's time goes: what holds it back), the layers
   left in float and every step tried.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from streampose.errors import ModelError, SourceError
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec
from streampose.outputs.writable import check_writable, write_file

__all__ = ["QuantReport", "QuantRequest", "Trial", "calibration_frames", "pick_group",
           "quantize", "sidecar_text"]

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("minmax", "percentile")
EQUALIZED = "+equalized"  # a calibration of the equalized model (models/equalize.py)
_EQUALIZED = {None: ("", EQUALIZED), False: ("",), True: (EQUALIZED,)}
PROBE_INPUTS = 6  # calibration inputs the output error is measured on
MAX_STEPS = 5  # groups left in float, at most, one AP measurement each
ERROR_TIE = 0.02  # output errors closer than this (relative) do not rank groups
PROFILE_OPS = 8  # operator types printed per profile
INT8_COMPUTE = ("QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger")
HELD_BACK_SHARE = 0.05  # other operator types named when they take this much INT8 time
SENSITIVE_METHODS = 2  # calibrations the sensitivity-ranked sets are tried with


@dataclass(frozen=True, kw_only=True)
class QuantRequest:
    """What ``streampose quantize`` was asked."""

    model: Path
    out: Path
    calibrate: tuple[str, ...]
    images: str | None = None
    annotations: Path | None = None
    max_drop: float = 0.02
    frames: int = 32
    methods: tuple[str, ...] = DEFAULT_METHODS
    per_channel: bool = True
    reduce_range: bool = False
    format: str = "qdq"  # or "qoperator" (models/quantize.py FORMATS)
    height: int | None = None
    spec: Path | None = None
    equalize: bool | None = None  # None: try the model as it is and equalized


@dataclass(kw_only=True)
class Trial:
    """One quantization tried: how, what stayed float, its output error and AP."""

    step: str
    settings: str
    float_nodes: int
    error: float
    ap: float | None = None


@dataclass(kw_only=True)
class QuantReport:
    """What the command measured; ``OUT.json`` is :meth:`to_json`."""

    model: str
    out: str
    method: str
    calibration_frames: int
    ap_float: float | None
    ap_int8: float | None
    max_drop: float
    ms_float: dict[str, float]
    ms_int8: dict[str, float]
    float_layers: list[str]
    float_groups: list[str]
    tried: list[Trial] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)  # "float", "int8": OpProfile

    @property
    def within_drop(self) -> bool | None:
        if self.ap_float is None or self.ap_int8 is None:
            return None
        return self.ap_float - self.ap_int8 <= self.max_drop + 1e-9

    @property
    def held_back(self) -> list[dict[str, Any]]:
        """The INT8 model's operator types, other than its INT8 convolutions and matrix
        products, that take at least :data:`HELD_BACK_SHARE` of its profiled time: what
        keeps the speed-up below the convolutions' own (float layers show as ``Conv``,
        an activation without a fused INT8 kernel as its own ``QLinear*`` pass)."""
        found = self.profile.get("INT8")
        if not found:
            return []
        kernels = sum(found["by_op"].values()) or 1.0
        return [{"op": op, "count": found["count"][op], "ms": ms, "share": ms / kernels}
                for op, ms in sorted(found["by_op"].items(), key=lambda item: -item[1])
                if op not in INT8_COMPUTE and ms / kernels >= HELD_BACK_SHARE]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "within_drop": self.within_drop, "held_back": self.held_back,
                "speedup": {k: self.ms_float[k] / self.ms_int8[k] for k in self.ms_float}}

    def lines(self) -> list[str]:
        """The report for a terminal."""
        verdict = {None: "", True: ": within", False: ": NOT within"}[self.within_drop]
        ap = "-" if self.ap_float is None else \
            f"{self.ap_float:.4f} -> {self.ap_int8:.4f} (max drop {self.max_drop:g}{verdict})"
        speed = ", ".join(f"{k} thread(s) {self.ms_float[k]:.1f} -> {self.ms_int8[k]:.1f} ms "
                          f"({self.ms_float[k] / self.ms_int8[k]:.2f}x)" for k in self.ms_float)
        rows = [f"  {t.step}: {t.settings}; output error {t.error:.4f}"
                + ("" if t.ap is None else f"; AP {t.ap:.4f}") for t in self.tried]
        return [f"quantized {self.model} -> {self.out} ({self.method}, "
                f"{self.calibration_frames} calibration frames)",
                f"AP: {ap}", f"model ms per frame: {speed}",
                f"left in float: {', '.join(self.float_groups) or 'nothing'} "
                f"({len(self.float_layers)} nodes)", *self._profile_lines(), "tried:", *rows]

    def _profile_lines(self) -> list[str]:
        """Where one run's time goes, float and INT8 (:func:`~.models.quant_probe.
        op_profile`): the operator types that hold the INT8 model back are there."""
        lines = []
        for which, found in self.profile.items():
            ops = sorted(found["by_op"].items(), key=lambda item: -item[1])[:PROFILE_OPS]
            kernels = sum(found["by_op"].values()) or 1.0
            lines.append(f"{which} time by operator (1 thread, ONNX Runtime profiler, "
                         f"{found['ms']:.1f} ms a run): " + ", ".join(
                             f"{op} x{found['count'][op]} {ms:.1f} ms ({100 * ms / kernels:.0f}%)"
                             for op, ms in ops))
        if self.held_back:
            lines.append("INT8 time beside its INT8 convolutions: " + ", ".join(
                f"{h['op']} x{h['count']} {h['ms']:.1f} ms ({100 * h['share']:.0f}%)"
                for h in self.held_back))
        return lines


def quantize(request: QuantRequest) -> QuantReport:
    """Quantize as the module doc says; writes ``out``, ``out.toml``, ``out.json``."""
    spec = _checked(request)
    frames = calibration_frames(request.calibrate, request.frames)
    with tempfile.TemporaryDirectory(prefix="streampose-quantize-") as tmp:
        return _Search(request, spec, frames, Path(tmp)).run()


def _checked(request: QuantRequest) -> ModelSpec:
    if not request.model.is_file():
        raise ModelError(f"model {request.model}: no such file")
    spec = resolve_spec(request.model, request.spec)
    for path, what in ((request.out, "quantized model"),
                       (request.out.with_suffix(".toml"), "model spec"),
                       (request.out.with_suffix(".json"), "quantize report")):
        check_writable(path, what)
    if request.annotations is not None and not request.annotations.is_file():
        raise SourceError(f"annotation file {request.annotations}: no such file")
    return spec


def calibration_frames(sources: Sequence[str], count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR frames, an equal share from each source, spread evenly over a
    video of known length (:func:`~streampose.sources.sample.sample_frames`)."""
    from streampose.sources.sample import sample_frames

    return sample_frames(sources, count)


class _Search:
    """One quantization search: its inputs, its float reference and what it tried."""

    def __init__(self, request: QuantRequest, spec: ModelSpec, frames: list[np.ndarray],
                 tmp: Path) -> None:
        from streampose.models.quant_probe import FloatReference
        from streampose.models.quantize import network_inputs

        self.request, self.spec, self.tmp = request, spec, tmp
        self.inputs = network_inputs(frames, spec, height=request.height)
        self.timing_input = network_inputs(frames[:1], spec, height=request.height)[0]
        self.reference = FloatReference(request.model, self._probe_inputs(),
                                        input_name=spec.input_name, threads=_threads())
        self.tried: list[Trial] = []
        self._paths: dict[str, Path] = {}

    def _probe_inputs(self) -> list[np.ndarray]:
        step = max(1, len(self.inputs) // PROBE_INPUTS)
        return self.inputs[::step][:PROBE_INPUTS]

    def run(self) -> QuantReport:
        ap_float = self._ap(self.request.model)
        log.info("float model: AP %s", ap_float)
        methods = self._ranked_methods()
        chosen, groups, method = self._left_in_float(methods, ap_float)
        return self._finish(chosen, groups, method, ap_float)

    # -- steps -------------------------------------------------------------------------

    def _ranked_methods(self) -> list[str]:
        """The calibrations (``minmax``, ``percentile+equalized``...), the one whose
        whole-model quantization strays least from the float outputs first."""
        choices = [m + suffix for m in self.request.methods
                   for suffix in _EQUALIZED[self.request.equalize]]
        errors = {c: self._try(f"calibration {c}", c, ()).error for c in choices}
        return sorted(errors, key=lambda m: errors[m])

    def _base(self, method: str) -> Path:
        """The float model a calibration quantizes: the model, or it equalized."""
        if not method.endswith(EQUALIZED):
            return self.request.model
        path = self.tmp / "equalized.onnx"
        if not path.is_file():
            from streampose.models.equalize import equalize

            equalize(self.request.model, path, self._probe_inputs(),
                     input_name=self.spec.input_name)
        return path

    def _left_in_float(self, methods: list[str], ap_float: float | None
                       ) -> tuple[tuple[Path, Trial], list[str], str]:
        """The model kept (path, trial), the groups left in float in it and its
        calibration."""
        method = methods[0]
        base = self._path_of(f"calibration {method}")
        best = (base, self._measured_ap(base, f"calibration {method}"))
        if ap_float is None or self._within(best[1], ap_float):
            return best, [], method
        kept, names, method = self._sensitive(methods[:SENSITIVE_METHODS], ap_float,
                                              (best, [], method))
        if self._within(kept[1], ap_float):
            return kept, names, method
        from streampose.models.quant_probe import compute_groups

        return (*self._greedy(method, compute_groups(self.request.model), ap_float,
                              (kept, names)), method)

    def _sensitive(self, methods: list[str], ap_float: float,
                   best: tuple[tuple[Path, Trial], list[str], str]
                   ) -> tuple[tuple[Path, Trial], list[str], str]:
        """The sensitivity-ranked float sets (:func:`~.models.quant_sensitivity.
        sensitive_groups`), smallest budget first, each with the calibrations ``methods``
        (the whole-model output error does not tell which does best once the sensitive
        layers are float: on openpose-mnthin percentile won it, and minmax gave AP 0.61
        against 0.53 with the same 8% set), until one is within the drop; the best AP seen
        is kept."""
        from streampose.models import quant_sensitivity as sensitivity

        by_base = {base: sensitivity.sensitive_groups(base, self._probe_inputs(),
                                                      input_name=self.spec.input_name,
                                                      budgets=sensitivity.BUDGETS)
                   for base in {self._base(m) for m in methods}}  # minmax, percentile alike
        sets = {m: by_base[self._base(m)] for m in methods}
        kept = best
        for name in dict.fromkeys(n for groups in sets.values() for n in groups):
            for method, groups in sets.items():
                if name not in groups:
                    continue
                step = _step([name]) + (f" ({method})" if len(sets) > 1 else "")
                self._try(step, method, groups[name])
                trial = self._measured_ap(self._path_of(step), step)
                if (trial.ap or 0.0) > (kept[0][1].ap or 0.0):
                    kept = ((self._path_of(step), trial), [name], method)
                if self._within(trial, ap_float):
                    return kept
        return kept

    def _greedy(self, method: str, groups: dict[str, tuple[str, ...]], ap_float: float,
                start: tuple[tuple[Path, Trial], list[str]]
                ) -> tuple[tuple[Path, Trial], list[str]]:
        """Add to the float set the group that lowers the output error most (each
        remaining group measured on top of those chosen; see :func:`pick_group`), measure
        AP, until the drop is within bounds or :data:`MAX_STEPS` steps; the best AP seen
        (``start`` the best before) is kept."""
        kept, kept_names = start
        names: list[str] = []
        error = self._trial(f"calibration {method}").error
        for _ in range(min(MAX_STEPS, len(groups))):
            nodes = tuple(n for name in names for n in groups[name])
            trials = {name: self._try(_step([*names, name]), method, (*nodes, *group))
                      for name, group in groups.items() if name not in names}
            names.append(pick_group({name: t.error for name, t in trials.items()}, error))
            path = self._path_of(_step(names))
            trial = self._measured_ap(path, _step(names))
            error = trial.error
            if (trial.ap or 0.0) > (kept[1].ap or 0.0):
                kept, kept_names = (path, trial), list(names)
            if self._within(trial, ap_float):
                break
        return kept, kept_names

    # -- one quantization ----------------------------------------------------------------

    def _try(self, step: str, method: str, exclude: tuple[str, ...]) -> Trial:
        from streampose.models.quantize import QuantSettings, quantize_model

        settings = QuantSettings(method=method.removesuffix(EQUALIZED),
                                 per_channel=self.request.per_channel,
                                 reduce_range=self.request.reduce_range,
                                 format=self.request.format, exclude=exclude)
        path = self._new_path(step)
        quantize_model(self._base(method), path, self.inputs, spec=self.spec,
                       settings=settings, cache=self.tmp / f"ranges-{method}.json")
        described = settings.describe() + (", equalized" if method != settings.method else "")
        trial = Trial(step=step, settings=described, float_nodes=len(exclude),
                      error=self.reference.error(path))
        log.info("%s: %s, output error %.4f", step, trial.settings, trial.error)
        self.tried.append(trial)
        return trial

    def _new_path(self, step: str) -> Path:
        path = self.tmp / f"candidate-{len(self._paths) + 1}.onnx"
        self._paths[step] = path
        _write_sidecar(self.spec, path)
        return path

    def _path_of(self, step: str) -> Path:
        return self._paths[step]

    def _trial(self, step: str) -> Trial:
        return next(t for t in reversed(self.tried) if t.step == step)

    def _measured_ap(self, path: Path, step: str) -> Trial:
        trial = self._trial(step)
        trial.ap = self._ap(path)
        log.info("%s: AP %s", step, trial.ap)
        return trial

    def _within(self, trial: Trial, ap_float: float) -> bool:
        return trial.ap is not None and ap_float - trial.ap <= self.request.max_drop + 1e-9

    def _ap(self, model: Path) -> float | None:
        if self.request.images is None or self.request.annotations is None:
            return None
        from streampose.config.build import build_config
        from streampose.evaluate import evaluate

        spec = model.with_suffix(".toml")
        model_values: dict[str, Any] = {"path": model, "height": self.request.height,
                                        "spec": spec if spec.is_file() else self.request.spec}
        config = build_config({}, {"model": model_values, "sources": [self.request.images]})
        return evaluate(config, self.request.annotations).AP

    # -- the result ----------------------------------------------------------------------

    def _finish(self, chosen: tuple[Path, Trial], groups: list[str], method: str,
                ap_float: float | None) -> QuantReport:
        path, trial = chosen
        out = self.request.out
        shutil.copyfile(path, out)
        _write_sidecar(self.spec, out)
        report = QuantReport(
            model=str(self.request.model), out=str(out), method=method,
            calibration_frames=len(self.inputs), ap_float=ap_float, ap_int8=trial.ap,
            max_drop=self.request.max_drop, **self._ms(out),
            float_layers=sorted(_float_layers(path)), float_groups=groups, tried=self.tried,
            profile=self._profiles(out))
        write_file(out.with_suffix(".json"), json.dumps(report.to_json(), indent=2) + "\n",
                   "quantize report")
        return report

    def _profiles(self, out: Path) -> dict[str, Any]:
        """ONNX Runtime's per-operator profile of the float and the INT8 model."""
        from streampose.models.quant_probe import op_profile

        return {which: asdict(op_profile(model, self.timing_input, folder=self.tmp,
                                         input_name=self.spec.input_name))
                for which, model in (("float", self.request.model), ("INT8", out))}

    def _ms(self, out: Path) -> dict[str, dict[str, float]]:
        """``ms_float`` and ``ms_int8``: per thread count, the two models timed in turns."""
        from streampose.models.quant_probe import models_ms

        timed = {str(n): models_ms((self.request.model, out), self.timing_input,
                                   input_name=self.spec.input_name, threads=n)
                 for n in sorted({1, _threads()})}
        return {"ms_float": {n: ms[0] for n, ms in timed.items()},
                "ms_int8": {n: ms[1] for n, ms in timed.items()}}


def pick_group(errors: dict[str, float], current: float) -> str:
    """The group to leave in float next, of those tried (``errors``: the output error
    with each, in :func:`~.models.quant_probe.compute_groups` order, the usual suspects
    first), ``current`` the error without any of them: the one with the lowest error,
    unless that lowers it by less than :data:`ERROR_TIE` (relative): then the error
    cannot rank them (a step of noise put blocks of the neck in float before the YOLO
    head's output layers, at a cost in speed), and the first in order that does not
    raise the error beyond that tolerance is taken."""
    best = min(errors, key=lambda name: errors[name])
    if errors[best] < current * (1 - ERROR_TIE):
        return best
    return next((name for name, error in errors.items()
                 if error <= current * (1 + ERROR_TIE)), best)


def _step(names: list[str]) -> str:
    return "float: " + " + ".join(names)


def _float_layers(model: Path) -> set[str]:
    """The compute layers of a quantized model that run in float."""
    from streampose.models.quant_probe import COMPUTE
    from streampose.models.quantize import node_names, quantized_nodes

    return set(node_names(model, COMPUTE)) - quantized_nodes(model)


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def _write_sidecar(spec: ModelSpec, model: Path) -> None:
    text = sidecar_text(spec, model.stem)
    if text is not None:
        write_file(model.with_suffix(".toml"), text, "model spec")


def sidecar_text(spec: ModelSpec, name: str) -> str | None:
    """The spec file of a model made from one described by ``spec``: the TOML ``spec`` was
    read from (a file or a built-in spec) with its ``name`` set to ``name``; None when
    the spec came from the model's ONNX metadata (kept in the quantized model)."""
    text = _spec_source_text(spec.source)
    if text is None:
        return None
    head = f"# written by `streampose quantize` from {spec.source}\n"
    return head + re.sub(r'(?m)^name\s*=.*$', f'name = "{name}"', text, count=1)


def _spec_source_text(source: str) -> str | None:
    built_in = "built-in spec "
    if source.startswith(built_in):
        folder = resources.files("streampose.models").joinpath("specs")
        return folder.joinpath(source[len(built_in):]).read_text(encoding="utf-8")
    path = Path(source)
    return path.read_text(encoding="utf-8") if path.is_file() else None
