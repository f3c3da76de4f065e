"""``streampose engine``: build (or find) a TensorRT engine in the cache before a run.

    engine, calibration = prebuild(EngineRequest(model=Path("m.onnx"), precision="int8",
                                                 calibrate=("vtest.mp4",), source="vtest.mp4"),
                                   frames=sample_frames)

The engine is the one a run with ``--backend tensorrt`` and the same backend options
(:meth:`EngineRequest.backend_options`, printed by the command) loads from the cache: the
same :class:`~streampose.backends.tensorrt.backend.TensorRTBackend` builds it, for the input
size the run letterboxes ``source`` to (at ``height``, else the spec's), or ``size``.
``int8`` keeps fp16 allowed (layers TensorRT cannot run in INT8 fall back to it).
``frames`` reads sources ((sources, count) -> BGR frames): the caller's, since backends
sit below the sources (the command line passes
:func:`streampose.sources.sample.sample_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streampose.backends.tensorrt.backend import FrameLoader
from streampose.backends.tensorrt.shapes import HW
from streampose.errors import ConfigError
from streampose.models.spec import ModelSpec

__all__ = ["PRECISIONS", "EngineRequest", "engine_size", "prebuild"]

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True, kw_only=True)
class EngineRequest:
    """What ``streampose engine`` was asked."""

    model: Path
    precision: str = "fp16"
    calibrate: tuple[str, ...] = ()
    frames: int = 32
    source: str | None = None  # the run's source: the engine's input size
    size: HW | None = None  # or the input size itself
    height: int | None = None
    max_batch: int = 8
    cache_dir: Path | None = None
    device: str = "cuda"
    spec: Path | None = None

    def backend_options(self) -> dict[str, Any]:
        """The tensorrt backend options a run needs to load this engine."""
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision {self.precision} (allowed: {', '.join(PRECISIONS)})")
        options: dict[str, Any] = {"fp16": self.precision != "fp32",
                                   "max_batch": self.max_batch}
        if self.precision == "int8":
            options.update(int8=True, calibrate=",".join(self.calibrate),
                           calibration_frames=self.frames)
        if self.cache_dir is not None:
            options["cache_dir"] = str(self.cache_dir)
        return options


def engine_size(frame: np.ndarray, spec: ModelSpec, height: int | None) -> HW:
    """The network input (H, W) a run letterboxes frames like ``frame`` to."""
    from streampose.pose.letterbox import plan_for_spec

    plan = plan_for_spec(spec, src_w=frame.shape[1], src_h=frame.shape[0], height=height)
    return (plan.in_h, plan.in_w)


def prebuild(request: EngineRequest, *, frames: FrameLoader) -> tuple[Path, Path | None]:
    """Build or load the engine; its file and its calibration cache's (int8)."""
    from streampose.backends.tensorrt.backend import TensorRTBackend
    from streampose.backends.tensorrt.builder import import_tensorrt
    from streampose.models.resolve import resolve_spec

    import_tensorrt()  # a missing tensorrt says so before any frame is decoded
    spec = resolve_spec(request.model, request.spec)
    options = request.backend_options()
    size = request.size or engine_size(frames([_sized_by(request)], 1)[0], spec,
                                       request.height)
    backend = TensorRTBackend(spec=spec, model_path=request.model, device=request.device,
                              input_hw=size, calibration_loader=frames, **options)
    with backend:
        return backend.engine_file(size), backend.calibration_file(size)


def _sized_by(request: EngineRequest) -> str:
    source = request.source or (request.calibrate[0] if request.calibrate else None)
    if source is None:
        raise ConfigError("streampose engine: give the run's source (--for SOURCE) or "
                          "--size HxW: the engine is built for one input size")
    return source
