"""Building a serialized TensorRT engine from an ONNX model (slow: seconds to minutes).

The ONNX file is parsed by TensorRT's ``OnnxParser`` into an explicit-batch network
(parser errors become one ModelError listing them) and built with
``build_serialized_network``: FP16 kernels allowed (``fp16=True``), INT8 kernels calibrated
by an entropy calibrator (``int8=True``, :mod:`~streampose.backends.tensorrt.calibrator`,
on a calibration profile of one batch), a workspace pool of ``workspace_mb`` MiB and the
optimization profile of :func:`streampose.backends.tensorrt.shapes.profile_shapes`.
TensorRT's own messages go to this module's ``logging`` logger. Also here: importing
``tensorrt`` with a version check (>= 8.5, the named-tensor API; TensorRT 10 works the
same way).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from streampose.backends.tensorrt.calibrator import CalibrationFeed, entropy_calibrator
from streampose.backends.tensorrt.shapes import HW, Shape, profile_shapes
from streampose.errors import ConfigError, ModelError
from streampose.models.spec import ModelSpec

__all__ = [
    "INSTALL_HINT",
    "MIN_TENSORRT",
    "BuildOptions",
    "FeedMaker",
    "build_serialized_engine",
    "import_tensorrt",
    "trt_logger",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'streampose[tensorrt]'"
MIN_TENSORRT = (8, 5)


@dataclass(frozen=True)
class BuildOptions:
    """How an engine is built (all but the workspace size are part of the cache key)."""

    fp16: bool
    max_batch: int
    input_hw: HW
    workspace_mb: int
    int8: bool = False


FeedMaker = Callable[[int], CalibrationFeed]  # the calibration feed for a batch size


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(version))[:2]) or (0,)


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module, or ConfigError with the install hint."""
    try:
        trt = importlib.import_module("tensorrt")
    except (ImportError, OSError) as exc:
        raise ConfigError(f"tensorrt backend: the 'tensorrt' package cannot be imported "
                          f"({exc}); install it with {INSTALL_HINT} on a machine with an "
                          "NVIDIA GPU") from exc
    version = str(getattr(trt, "__version__", "unknown"))
    if _version_tuple(version) < MIN_TENSORRT:
        raise ConfigError(f"tensorrt backend: TensorRT {version} is too old; it needs "
                          f">= {'.'.join(map(str, MIN_TENSORRT))} ({INSTALL_HINT})")
    return trt


def trt_logger(trt: Any) -> Any:
    """A TensorRT ILogger that forwards to this module's logging logger."""
    levels = _severity_levels(trt)

    class _LogBridge(trt.ILogger):  # a base class known only at run time
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: object, msg: str) -> None:
            level = levels.get(severity, logging.INFO)
            if log.isEnabledFor(level):
                log.log(level, "TensorRT: %s", msg)

    return _LogBridge()


def _severity_levels(trt: Any) -> dict[object, int]:
    severity = getattr(trt.ILogger, "Severity", trt.ILogger)
    names = {"INTERNAL_ERROR": logging.CRITICAL, "ERROR": logging.ERROR,
             "WARNING": logging.WARNING, "INFO": logging.DEBUG, "VERBOSE": logging.DEBUG}
    return {getattr(severity, name): level for name, level in names.items()
            if hasattr(severity, name)}


def _network_flags(trt: Any) -> int:
    """Explicit batch: a flag before TensorRT 10, the only mode (flag deprecated) since."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    if flag is None or _version_tuple(trt.__version__) >= (10,):
        return 0
    return 1 << int(flag)


def build_serialized_engine(trt: Any, logger: Any, *, onnx: bytes, model_path: Path,
                            spec: ModelSpec, options: BuildOptions,
                            calibration: FeedMaker | None = None) -> bytes:
    """Parse the ONNX model and build a serialized engine (slow: seconds to minutes);
    ``options.int8`` needs ``calibration``, the feed of calibration batches."""
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    _parse(parser, onnx, model_path)
    network_shape = _input_shape(network, spec, model_path)
    shapes = profile_shapes(network_shape, spec.input_layout, options.input_hw,
                            options.max_batch)
    config = _builder_config(trt, builder, options)
    config.add_optimization_profile(_profile(builder, spec, shapes))
    calibrator = None  # TensorRT keeps no Python reference: this one lasts the build
    if options.int8:
        calibrator = _calibrate(trt, builder, config, spec, network_shape, options,
                                calibration)
    log.info("tensorrt: building %s, profile min/opt/max %s, fp16 %s, int8 %s",
             model_path.name, " / ".join(map(str, shapes)), options.fp16, options.int8)
    plan = builder.build_serialized_network(network, config)
    del calibrator  # calibration is over
    if plan is None:
        raise ModelError(f"TensorRT could not build an engine for {model_path} "
                         "(see the TensorRT errors logged above)")
    return bytes(plan)


def _profile(builder: Any, spec: ModelSpec, shapes: tuple[Shape, Shape, Shape]) -> Any:
    profile = builder.create_optimization_profile()
    profile.set_shape(spec.input_name, *shapes)
    return profile


def _calibrate(trt: Any, builder: Any, config: Any, spec: ModelSpec, network_shape: Shape,
               options: BuildOptions, calibration: FeedMaker | None) -> Any:
    """Allow INT8 and attach an entropy calibrator on a one-batch calibration profile."""
    if calibration is None:
        raise ConfigError("tensorrt int8: no calibration data (give calibrate = SOURCES)")
    flag = getattr(trt.BuilderFlag, "INT8", None)
    if flag is None:
        raise ConfigError(f"tensorrt int8: TensorRT {trt.__version__} has no INT8 builder "
                          "flag")
    if not getattr(builder, "platform_has_fast_int8", True):
        log.warning("tensorrt: this GPU has no fast int8; TensorRT keeps other kernels "
                    "where they are faster")
    one = profile_shapes(network_shape, spec.input_layout, options.input_hw, 1)[1]
    calibrator = entropy_calibrator(trt, calibration(one[0]))
    config.set_flag(flag)
    config.int8_calibrator = calibrator
    config.set_calibration_profile(_profile(builder, spec, (one, one, one)))
    return calibrator


def _parse(parser: Any, onnx: bytes, model_path: Path) -> None:
    if parser.parse(onnx, str(model_path)):
        return
    errors = [_parser_error(parser.get_error(i)) for i in range(parser.num_errors)]
    listed = "\n  ".join(errors or ["(no parser errors recorded; see the TensorRT log)"])
    raise ModelError(f"TensorRT cannot parse ONNX model {model_path}:\n  {listed}")


def _parser_error(error: Any) -> str:
    """``node 3 (Resize): <description> (<code>)`` from a TensorRT ParserError."""
    try:
        node, desc, code = error.node(), error.desc(), error.code()
    except AttributeError:
        return str(error)
    operator = error.node_operator() if hasattr(error, "node_operator") else ""
    where = f"node {node}{f' ({operator})' if operator else ''}: " if node >= 0 else ""
    return f"{where}{desc} ({code})"


def _input_shape(network: Any, spec: ModelSpec, model_path: Path) -> Shape:
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    names = [tensor.name for tensor in inputs]
    if spec.input_name not in names:
        raise ModelError(f"model {model_path} has no input {spec.input_name!r} (spec "
                         f"{spec.source}); its inputs are: {', '.join(map(repr, names))}")
    if len(inputs) != 1:
        raise ModelError(f"model {model_path} has {len(inputs)} inputs "
                         f"({', '.join(map(repr, names))}); the tensorrt backend feeds one")
    return tuple(int(d) for d in inputs[0].shape)


def _builder_config(trt: Any, builder: Any, options: BuildOptions) -> Any:
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    if options.fp16:
        _allow_fp16(trt, builder, config)
    return config


def _allow_fp16(trt: Any, builder: Any, config: Any) -> None:
    flag = getattr(trt.BuilderFlag, "FP16", None)
    if flag is None:  # a TensorRT with strongly typed networks only
        log.warning("tensorrt: this TensorRT has no FP16 builder flag; the engine keeps the "
                    "ONNX model's own precision")
        return
    if not getattr(builder, "platform_has_fast_fp16", True):
        log.warning("tensorrt: this GPU has no fast fp16; TensorRT keeps fp32 kernels "
                    "where they are faster")
    config.set_flag(flag)
