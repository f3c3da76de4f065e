"""TensorRTBackend: an ONNX model run as TensorRT engines on an NVIDIA GPU, fp16 by default.

One engine per input size (height x width), each loaded from the engine cache
(:mod:`~streampose.backends.tensorrt.engine_cache`) or built
(:mod:`~streampose.backends.tensorrt.builder`) and cached. With ``input_hw=(H, W)`` (or
``"HxW"``) the engine is built for that size in ``open()``; without it, at the first
``infer()``, for the size of that batch (in the pipeline, the letterboxed size of the
sources). A later batch of another size (sources of other aspect ratios) gets its own
engine, built or loaded the same way. An engine TensorRT cannot deserialize (another
TensorRT build, a corrupted file) is logged and rebuilt. Batches larger than the engine's
max batch run in chunks, like ONNX Runtime's ``spec.max_batch`` chunking. ``max_batch`` is
capped by the spec's ``max_batch`` when that is set. ``threads`` is ignored.

``int8=True`` also allows INT8 kernels, calibrated by TensorRT's entropy calibrator on
``calibration_frames`` frames of the ``calibrate`` sources prepared as ``streampose
quantize`` prepares them (the run's letterbox and normalisation, at the engine's input
size; :mod:`~streampose.backends.tensorrt.calibrator`). The frames are read by
``calibration_loader`` (sources, count) -> BGR frames, given by the layer above (a run's
planning passes :func:`streampose.sources.sample.sample_frames`: backends sit below the
sources). The calibration cache is kept beside the engines and reused (no frame is read
then); the engine's cache key names the calibration.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streampose.backends.base import Backend, join_chunks
from streampose.backends.tensorrt.binding import BoundEngine, bind
from streampose.backends.tensorrt.builder import (
    BuildOptions,
    build_serialized_engine,
    import_tensorrt,
    trt_logger,
)
from streampose.backends.tensorrt.calibrator import (
    CalibrationFeed,
    CalibrationKey,
    CalibrationReader,
    calibration_path,
)
from streampose.backends.tensorrt.cuda import CudaDevice, cuda_index, open_cuda
from streampose.backends.tensorrt.engine_cache import (
    EngineKey,
    default_cache_dir,
    engine_path,
    read_engine,
    stale_reason,
    store_engine,
)
from streampose.backends.tensorrt.shapes import HW, shape_hw
from streampose.errors import ConfigError, ModelError
from streampose.heads.base import Shape
from streampose.models.spec import ModelSpec

__all__ = ["FrameLoader", "TensorRTBackend"]

log = logging.getLogger(__name__)

FrameLoader = Callable[[Sequence[str], int], list[np.ndarray]]  # (sources, count) -> frames


class TensorRTBackend(Backend):
    """Runs an ONNX model as a TensorRT engine on an NVIDIA GPU (see the module doc).

    ``device``: "cuda" or "cuda:N". ``fp16``: allow fp16 kernels (inputs and outputs stay
    float32). ``max_batch``: the engine's largest batch (larger batches run in chunks).
    ``cache_dir``: where engines are kept. ``workspace_mb``: TensorRT's scratch memory
    limit while building and running. ``input_hw``: build for this (H, W) in ``open()``;
    None builds for the first batch's size. ``int8``: allow INT8 kernels, calibrated on
    ``calibration_frames`` frames of ``calibrate`` (sources: a list, or one string with
    commas between them), read by ``calibration_loader``.
    """

    name = "tensorrt"

    def __init__(
        self,
        *,
        spec: ModelSpec,
        model_path: Path | None,
        device: str = "cuda",
        threads: int | None = None,
        fp16: bool = True,
        max_batch: int = 8,
        cache_dir: Path | str | None = None,
        workspace_mb: int = 1024,
        input_hw: Sequence[int] | str | None = None,
        int8: bool = False,
        calibrate: Sequence[str] | str | None = None,
        calibration_frames: int = 32,
        calibration_loader: FrameLoader | None = None,
    ) -> None:
        super().__init__(spec=spec, model_path=model_path, device=device, threads=threads)
        if model_path is None:
            raise ConfigError("tensorrt backend: a model path (.onnx) is required")
        cuda_index(device)
        if not isinstance(fp16, bool):
            raise ConfigError(f"tensorrt backend: fp16 = {fp16!r} must be true or false")
        self.fp16 = fp16
        self.max_batch = _positive_int("max_batch", max_batch)
        self.workspace_mb = _positive_int("workspace_mb", workspace_mb)
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.input_hw = _parse_hw(input_hw)
        self.int8, self.calibrate = _int8_options(int8, calibrate)
        self.calibration_frames = _positive_int("calibration_frames", calibration_frames)
        self.calibration_loader = calibration_loader
        self._trt: Any = None
        self._cuda: CudaDevice | None = None
        self._logger: Any = None
        self._runtime: Any = None
        self._onnx = b""
        self._model_sha256 = ""
        self._engines: dict[HW, BoundEngine] = {}

    @property
    def engine_max_batch(self) -> int:
        """``max_batch``, capped by the spec's ``max_batch`` when that is set."""
        cap = self.spec.max_batch
        return min(self.max_batch, cap) if cap else self.max_batch

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> None:
        if self._trt is not None:
            return
        trt = import_tensorrt()
        cuda = open_cuda(self.device)
        path = self.model_path
        assert path is not None
        try:
            self._onnx = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read ONNX model {path}: {exc.strerror or exc}") from exc
        self._model_sha256 = hashlib.sha256(self._onnx).hexdigest()
        self._logger = trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self._trt, self._cuda = trt, cuda
        self.cache_dir = self.cache_dir or default_cache_dir()
        log.info("tensorrt: %s on %s (%s, sm %s), TensorRT %s, fp16 %s, int8 %s, max batch "
                 "%d", path, cuda.device, cuda.name, cuda.capability, trt.__version__,
                 self.fp16, self.int8, self.engine_max_batch)
        if self.input_hw is not None:
            try:
                self._engine_for(self.input_hw)
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self._cuda is not None:
            with contextlib.suppress(Exception):
                self._cuda.synchronize()
        for bound in self._engines.values():  # contexts before engines before the runtime
            bound.context = None
        for bound in self._engines.values():
            bound.engine = None
        self._engines.clear()
        self._runtime = self._logger = self._trt = self._cuda = None
        self._onnx = b""

    # -- inference -----------------------------------------------------------------------

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self._trt is None:
            raise RuntimeError("tensorrt backend: infer() called before open()")
        self._check_batch(batch)
        bound = self._engine_for(shape_hw(batch.shape, self.spec.input_layout))
        return join_chunks([self._run(bound, part) for part in _chunks(batch, bound.max_batch)])

    def output_shapes(self) -> dict[str, Shape]:
        """The outputs of an engine built or loaded so far (dynamic sizes as None); empty
        until the first engine exists (its input size is known at open() or first use)."""
        for bound in self._engines.values():
            return {name: tuple(None if int(d) < 0 else int(d)
                                for d in bound.engine.get_tensor_shape(name))
                    for name in bound.outputs}
        return {}

    def _run(self, bound: BoundEngine, batch: np.ndarray) -> dict[str, np.ndarray]:
        cuda = self._cuda
        assert cuda is not None
        with cuda.stream_context():
            x = cuda.torch.from_numpy(_writable(batch)).to(device=cuda.device)
            outputs = self._execute(bound, x)
            host = {name: tensor.float().to("cpu") for name, tensor in outputs.items()}
        cuda.synchronize()
        return {name: tensor.numpy() for name, tensor in host.items()}

    def _execute(self, bound: BoundEngine, x: Any) -> dict[str, Any]:
        """Enqueue the engine on device tensor ``x``; returns the device output tensors."""
        context = bound.context
        x = x.to(dtype=bound.input_dtype).contiguous()
        if not context.set_input_shape(bound.input_name, tuple(x.shape)):
            raise ValueError(f"tensorrt backend: batch shape {tuple(x.shape)} is outside "
                             f"the engine's profile (max batch {bound.max_batch}, "
                             f"H x W {bound.hw[0]} x {bound.hw[1]})")
        context.set_tensor_address(bound.input_name, x.data_ptr())
        outputs = {name: self._output(bound, name, dtype)
                   for name, dtype in bound.outputs.items()}
        assert self._cuda is not None
        if not context.execute_async_v3(self._cuda.stream_handle):
            raise RuntimeError("tensorrt backend: execute_async_v3 failed (see the "
                               "TensorRT errors logged above)")
        return outputs

    @property
    def tensor_device(self) -> Any:
        """The CUDA device (a torch.device) :meth:`infer_tensor` runs on; None before open()."""
        return None if self._cuda is None else self._cuda.device

    def infer_tensor(self, x: Any) -> dict[str, Any]:
        """Run a float32 batch (torch tensor, the spec's layout) on the device; the outputs
        come back as float device tensors by name (device ops: nothing goes to the host)."""
        if self._trt is None or self._cuda is None:
            raise RuntimeError("tensorrt backend: infer_tensor() called before open()")
        cuda = self._cuda
        bound = self._engine_for(shape_hw(tuple(x.shape), self.spec.input_layout))
        parts = []
        cuda.wait_for_current()
        with cuda.stream_context():
            for start in range(0, len(x), bound.max_batch):
                outputs = self._execute(bound, x[start : start + bound.max_batch])
                parts.append({name: t.float() for name, t in outputs.items()})
                cuda.synchronize()  # the context is set up again for the next chunk
            if len(parts) > 1:
                torch = cuda.torch
                parts = [{name: torch.cat([p[name] for p in parts]) for name in parts[0]}]
        cuda.synchronize()  # the caller reads the results on its own stream
        return parts[0]

    def _output(self, bound: BoundEngine, name: str, dtype: Any) -> Any:
        """A device tensor for output ``name`` (every output needs an address)."""
        cuda = self._cuda
        assert cuda is not None
        shape = tuple(int(d) for d in bound.context.get_tensor_shape(name))
        tensor = cuda.torch.empty(shape, dtype=dtype, device=cuda.device)
        bound.context.set_tensor_address(name, tensor.data_ptr())
        return tensor

    # -- engines: one per input size, from the cache or built --------------------------------

    def _engine_for(self, hw: HW) -> BoundEngine:
        bound = self._engines.get(hw)
        if bound is None:
            if self._engines:
                log.warning("tensorrt: input %dx%d differs from %s; loading or building "
                            "another engine", hw[0], hw[1],
                            ", ".join(f"{h}x{w}" for h, w in self._engines))
            bound = self._load_or_build(hw)
            self._engines[hw] = bound
        return bound

    def _key(self, hw: HW) -> EngineKey:
        assert self._cuda is not None and self._trt is not None
        return EngineKey(model_sha256=self._model_sha256, gpu_name=self._cuda.name,
                         compute_capability=self._cuda.capability,
                         tensorrt_version=str(self._trt.__version__), fp16=self.fp16,
                         max_batch=self.engine_max_batch, input_name=self.spec.input_name,
                         input_layout=self.spec.input_layout, input_hw=hw, int8=self.int8,
                         calibration=self._calibration_key(hw).digest if self.int8 else "")

    def _calibration_key(self, hw: HW) -> CalibrationKey:
        assert self._trt is not None
        return CalibrationKey(model_sha256=self._model_sha256,
                              tensorrt_version=str(self._trt.__version__),
                              input_name=self.spec.input_name,
                              input_layout=self.spec.input_layout, input_hw=hw,
                              sources=self.calibrate, frames=self.calibration_frames)

    def engine_file(self, hw: HW) -> Path:
        """The engine cache's file for input ``hw`` (after open())."""
        assert self.model_path is not None and self.cache_dir is not None
        return engine_path(self.cache_dir, self.model_path.stem, self._key(hw))

    def calibration_file(self, hw: HW) -> Path | None:
        """The INT8 calibration cache's file for input ``hw`` (after open()); None
        without int8."""
        if not self.int8:
            return None
        assert self.model_path is not None and self.cache_dir is not None
        return calibration_path(self.cache_dir, self.model_path.stem,
                                self._calibration_key(hw))

    def _load_or_build(self, hw: HW) -> BoundEngine:
        key, model = self._key(hw), self.model_path
        assert model is not None
        path = self.engine_file(hw)
        engine, reason = None, stale_reason(path, key)
        if reason is None:
            engine = self._deserialize(read_engine(path))
            reason = None if engine is not None else f"cached {path.name} cannot be deserialized"
        if engine is None:
            log.warning("tensorrt: building an engine for %s at %dx%d (%s); this can take "
                        "minutes", model.name, hw[0], hw[1], reason)
            engine = self._build(path, key, hw)
        else:
            log.info("tensorrt: loaded cached engine %s", path)
        assert self._cuda is not None
        return bind(self._trt, engine, self.spec, self._cuda, model)

    def _build(self, path: Path, key: EngineKey, hw: HW) -> Any:
        assert self.model_path is not None
        options = BuildOptions(fp16=self.fp16, max_batch=self.engine_max_batch, input_hw=hw,
                               workspace_mb=self.workspace_mb, int8=self.int8)
        started = time.perf_counter()
        plan = build_serialized_engine(self._trt, self._logger, onnx=self._onnx,
                                       model_path=self.model_path, spec=self.spec,
                                       options=options,
                                       calibration=lambda batch: self._feed(hw, batch))
        log.info("tensorrt: built in %.1f s", time.perf_counter() - started)
        try:
            store_engine(path, plan, key, self.model_path)
        except OSError as exc:
            log.warning("tensorrt: cannot cache the engine in %s (%s); it will be rebuilt "
                        "next time", path.parent, exc)
        engine = self._deserialize(plan)
        if engine is None:
            raise ModelError(f"TensorRT built an engine for {self.model_path} but cannot "
                             "deserialize it (see the TensorRT errors logged above)")
        return engine

    def _feed(self, hw: HW, batch_size: int) -> CalibrationFeed:
        """The calibration batches for an engine at ``hw``, its cache beside the engines."""
        path = self.calibration_file(hw)
        assert path is not None
        return CalibrationFeed(
            reader=lambda: self._calibration_reader(hw), input_name=self.spec.input_name,
            batch_size=batch_size, cache_path=path, to_device=self._upload)

    def _upload(self, batch: np.ndarray) -> Any:
        """``batch`` on the GPU, the copy finished (TensorRT reads it on its own stream)."""
        cuda = self._cuda
        assert cuda is not None
        with cuda.stream_context():
            tensor = cuda.torch.from_numpy(batch).to(device=cuda.device)
        cuda.synchronize()
        return tensor

    def _calibration_reader(self, hw: HW) -> CalibrationReader:
        """``streampose quantize``'s reader over the calibration frames prepared for ``hw``."""
        from streampose.models.quantize import FrameCalibration, network_inputs

        if self.calibration_loader is None:
            raise ConfigError("tensorrt int8: no calibration_loader to read the calibrate "
                              "sources with (streampose run, eval and engine give one)")
        frames = self.calibration_loader(self.calibrate, self.calibration_frames)
        log.info("tensorrt: calibrating on %d frame(s) of %s", len(frames),
                 ", ".join(self.calibrate))
        inputs = network_inputs(frames, self.spec, size=hw)
        return FrameCalibration(inputs=inputs, input_name=self.spec.input_name)

    def _deserialize(self, plan: bytes | None) -> Any:
        if not plan:
            return None
        try:
            return self._runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # TensorRT's bindings raise several unexported types
            log.warning("tensorrt: deserializing an engine failed: %s", exc)
            return None


def _writable(batch: np.ndarray) -> np.ndarray:
    """torch.from_numpy warns on read-only arrays; copy those (rare: the pipeline's are not)."""
    return batch if batch.flags.writeable and batch.flags.c_contiguous else batch.copy()


def _chunks(batch: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(batch), size):
        yield batch[start : start + size]


# -- constructor options ----------------------------------------------------------------


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"tensorrt backend: {name} = {value!r} must be an integer >= 1")
    return value


def _int8_options(int8: object, calibrate: object) -> tuple[bool, tuple[str, ...]]:
    """(int8, the calibration sources); int8 needs sources."""
    if not isinstance(int8, bool):
        raise ConfigError(f"tensorrt backend: int8 = {int8!r} must be true or false")
    if calibrate is None:
        sources: tuple[str, ...] = ()
    elif isinstance(calibrate, str):
        sources = tuple(s.strip() for s in calibrate.split(",") if s.strip())
    elif isinstance(calibrate, list | tuple) and all(isinstance(s, str) for s in calibrate):
        sources = tuple(calibrate)
    else:
        raise ConfigError(f"tensorrt backend: calibrate = {calibrate!r} (allowed: a list of "
                          "sources, or one string with commas between them)")
    if int8 and not sources:
        raise ConfigError("tensorrt backend: int8 = true needs calibration frames: "
                          "calibrate = SOURCE[,SOURCE...] (videos, image folders)")
    return int8, sources


def _parse_hw(value: object) -> HW | None:
    """None, ``(H, W)`` or ``"HxW"`` -> (H, W) of positive ints."""
    if value is None:
        return None
    parts = value.lower().split("x") if isinstance(value, str) else value
    if isinstance(parts, list | tuple) and len(parts) == 2:
        with contextlib.suppress(TypeError, ValueError):
            height, width = int(parts[0]), int(parts[1])
            if height >= 1 and width >= 1:
                return (height, width)
    raise ConfigError(f"tensorrt backend: input_hw = {value!r} (allowed: None, "
                      "[height, width] or 'HxW' with positive sizes)")
