"""TensorRT backend: an engine built from the ONNX model, cached on disk, fp16 by default.

Building
    The ONNX file is parsed by TensorRT's ``OnnxParser`` into an explicit-batch network
    (parser errors become one ModelError listing them) and built with
    ``build_serialized_network``: FP16 kernels allowed (``fp16=True``), a workspace pool of
    ``workspace_mb`` MiB and one optimization profile on the input tensor:

    - batch: min 1, opt ``max(1, max_batch // 2)``, max ``max_batch`` (all equal to the
      model's batch when the ONNX batch dimension is static); ``max_batch`` is capped by
      the spec's ``max_batch`` when that is set;
    - height and width: fixed. With ``input_hw=(H, W)`` (or ``"HxW"``) the engine is
      built for that size in ``open()``; without it, at the first ``infer()``, for the size
      of that batch (in the pipeline, the letterboxed size of the sources). A later batch
      of another size (sources of other aspect ratios) gets its own engine, built or
      loaded the same way: each engine is tuned for exactly one size, which is what the
      pipeline feeds. Sizes that are static in the ONNX model must match.

    Batches larger than the engine's max batch run in chunks, like ONNX Runtime's
    ``spec.max_batch`` chunking.

Cache
    ``<cache_dir>/<model stem>-<key[:16]>.engine`` plus a sidecar ``.json`` holding the
    key fields. The key is the SHA-256 of: the ONNX file's SHA-256, the GPU name and
    compute capability, the TensorRT version, ``fp16``, the engine's max batch, the input
    name, layout and H/W, and a schema number of this file. (The workspace size is not
    part of it: it changes speed, not results.) Files are written atomically (a temporary
    file in the same folder, then ``os.replace``), engine first and sidecar last, so a
    crash leaves no half-written engine that looks valid. An engine whose sidecar is
    missing, unreadable or for another key, or that TensorRT cannot deserialize (another
    TensorRT build, a corrupted file), is logged and rebuilt. The default ``cache_dir`` is
    ``streampose.models.download.cache_dir() / "engines"`` (``~/.cache/streampose/engines``
    when that module is absent). Old engines are not pruned.

Device memory
    Inputs and outputs are **torch CUDA tensors**: torch is already the GPU dependency of
    the torch backend; its caching allocator makes per-call buffers cheap and safe across
    streams, its streams give ``execute_async_v3`` a stream handle, and it owns the CUDA
    primary context that TensorRT's runtime also uses, so there is no context to push and
    pop as with pycuda (which remains an alternative: ``pycuda.driver.mem_alloc`` buffers
    and a ``pycuda.driver.Stream`` handle would plug into the same calls).

Requirements: ``tensorrt`` >= 8.5 (the named-tensor API: ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``; TensorRT 10 works the same way) and a CUDA
build of torch. ``threads`` is ignored.

Verified without a GPU: the cache key, naming, staleness and atomic writes, and the
build/load/rebuild flow and the data path against a fake ``tensorrt`` module (CPU torch
tensors). Not verified: a real TensorRT build or run; no GPU with TensorRT was available.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streampose.backends.base import Backend, split_outputs
from streampose.errors import ConfigError, ModelError
from streampose.models.spec import ModelSpec

__all__ = [
    "INSTALL_HINT",
    "BuildOptions",
    "CudaDevice",
    "EngineKey",
    "TensorRTBackend",
    "atomic_write",
    "build_serialized_engine",
    "default_cache_dir",
    "engine_path",
    "import_tensorrt",
    "open_cuda",
    "profile_shapes",
    "shape_hw",
    "sidecar_path",
    "stale_reason",
    "store_engine",
]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'streampose[tensorrt]'"
MIN_TENSORRT = (8, 5)
ENGINE_SCHEMA = 1  # bump when the way engines are built changes
Shape = tuple[int, ...]
HW = tuple[int, int]


# -- the cache: key, file names, staleness, atomic writes (no TensorRT, no GPU) -----------


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on: any change means another engine file."""

    model_sha256: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    fp16: bool
    max_batch: int
    input_name: str
    input_layout: str
    input_hw: HW
    schema: int = ENGINE_SCHEMA

    def fields(self) -> dict[str, Any]:
        """The key as JSON-ready values (what the sidecar records)."""
        values = asdict(self)
        values["input_hw"] = list(self.input_hw)
        return values

    @property
    def digest(self) -> str:
        text = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    """``streampose.models.download.cache_dir() / "engines"``, else ~/.cache/streampose/engines."""
    try:
        from streampose.models.download import cache_dir
    except ImportError:
        return Path.home() / ".cache" / "streampose" / "engines"
    return Path(cache_dir()) / "engines"


def engine_path(cache_dir: Path, model_stem: str, key: EngineKey) -> Path:
    """``<cache_dir>/<model stem>-<key digest[:16]>.engine``."""
    return Path(cache_dir) / f"{model_stem}-{key.digest[:16]}.engine"


def sidecar_path(engine: Path) -> Path:
    """The JSON file next to ``engine`` that records its key."""
    return engine.with_suffix(".json")


def stale_reason(engine: Path, key: EngineKey) -> str | None:
    """None when ``engine`` can be loaded for ``key``, else why it must be (re)built."""
    if not engine.is_file():
        return f"no cached engine {engine.name}"
    sidecar = sidecar_path(engine)
    try:
        recorded = json.loads(sidecar.read_text("utf-8"))
    except FileNotFoundError:
        return f"no sidecar {sidecar.name} (interrupted write?)"
    except (OSError, ValueError) as exc:
        return f"unreadable sidecar {sidecar.name}: {exc}"
    found = recorded.get("key") if isinstance(recorded, dict) else None
    if found != key.fields():
        return f"sidecar {sidecar.name} is for another key ({_key_changes(found, key)})"
    return None


def _key_changes(found: object, key: EngineKey) -> str:
    if not isinstance(found, dict):
        return "no key recorded"
    wanted = key.fields()
    changed = [f"{name}: {found.get(name)!r} -> {value!r}" for name, value in wanted.items()
               if found.get(name) != value]
    return ", ".join(changed) or "extra fields"


def atomic_write(path: Path, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``.

    Readers see the old file or the whole new one, never a part; on failure the temporary
    file is removed and the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def store_engine(engine: Path, plan: bytes, key: EngineKey, model_path: Path) -> None:
    """Engine first, sidecar last: a sidecar exists only next to a complete engine."""
    atomic_write(engine, plan)
    record = {"key": key.fields(), "digest": key.digest, "model": str(model_path),
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write(sidecar_path(engine), (json.dumps(record, indent=2) + "\n").encode("utf-8"))


# -- the optimization profile (pure) ---------------------------------------------------------


def profile_shapes(network_shape: Sequence[int], layout: str, hw: HW,
                   max_batch: int) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) input shapes for the profile; -1 marks a dynamic ONNX dimension.

    Batch: 1 / max(1, max_batch // 2) / max_batch, or the static batch. Height and width:
    ``hw``; a static ONNX size must equal it. Channels: the static value, or 3.
    """
    dims = tuple(int(d) for d in network_shape)
    if len(dims) != 4:
        raise ModelError(f"model input has shape {list(dims)}; expected a 4-D {layout} batch")
    h_axis, w_axis, c_axis = (1, 2, 3) if layout == "NHWC" else (2, 3, 1)
    for axis, wanted, what in ((h_axis, hw[0], "height"), (w_axis, hw[1], "width")):
        if dims[axis] >= 0 and dims[axis] != wanted:
            raise ModelError(f"model input has static {what} {dims[axis]} (shape "
                             f"{list(dims)}, {layout}), but {wanted} was asked for")
    channels = dims[c_axis] if dims[c_axis] >= 0 else 3
    batches = (dims[0],) * 3 if dims[0] >= 0 else (1, max(1, max_batch // 2), max_batch)
    return tuple(_shape(layout, n, hw, channels) for n in batches)  # type: ignore[return-value]


def _shape(layout: str, batch: int, hw: HW, channels: int) -> Shape:
    if layout == "NHWC":
        return (batch, hw[0], hw[1], channels)
    return (batch, channels, hw[0], hw[1])


def shape_hw(shape: Sequence[int], layout: str) -> HW:
    """(height, width) of a 4-D input shape in ``layout``."""
    h, w = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    return (int(h), int(w))


# -- options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildOptions:
    """How an engine is built (all but the workspace size are part of the cache key)."""

    fp16: bool
    max_batch: int
    input_hw: HW
    workspace_mb: int


def _cuda_index(device: str) -> int:
    kind, _, index = str(device).partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise ConfigError(f"tensorrt backend: device = {device!r} (allowed: 'cuda', "
                          "'cuda:N'; TensorRT runs on NVIDIA GPUs only)")
    return int(index or 0)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"tensorrt backend: {name} = {value!r} must be an integer >= 1")
    return value


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


# -- CUDA through torch --------------------------------------------------------------------


@dataclass
class CudaDevice:
    """The GPU as torch sees it: identity for the cache key, a stream, tensors on it."""

    torch: Any
    device: Any  # torch.device
    name: str
    capability: str  # "8.9"
    stream: Any = None  # torch.cuda.Stream; None runs on the current stream

    @property
    def stream_handle(self) -> int:
        return int(self.stream.cuda_stream) if self.stream is not None else 0

    def stream_context(self) -> contextlib.AbstractContextManager[Any]:
        if self.stream is None:
            return contextlib.nullcontext()
        return self.torch.cuda.stream(self.stream)

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    def wait_for_current(self) -> None:
        """Make this stream wait for work queued on the current one (e.g. a device letterbox)."""
        if self.stream is not None:
            self.stream.wait_stream(self.torch.cuda.current_stream(self.device))


def open_cuda(device: str) -> CudaDevice:
    """Make ``device`` ("cuda" / "cuda:N") current for this process, with its own stream."""
    index = _cuda_index(device)
    try:
        import torch
    except ImportError as exc:
        raise ConfigError("tensorrt backend: needs torch (a CUDA build) for GPU memory; "
                          f"{INSTALL_HINT} and a CUDA build of torch") from exc
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none: a CPU-only build"
        raise ConfigError(f"tensorrt backend: device {device!r}, but torch sees no CUDA GPU "
                          f"(torch {torch.__version__}, CUDA {built})")
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"tensorrt backend: device {device!r}, but only {count} CUDA "
                          "device(s) are visible")
    torch.cuda.set_device(index)  # TensorRT builds and runs on the current device
    major, minor = torch.cuda.get_device_capability(index)
    return CudaDevice(torch=torch, device=torch.device("cuda", index),
                      name=str(torch.cuda.get_device_name(index)), capability=f"{major}.{minor}",
                      stream=torch.cuda.Stream(device=index))


# -- TensorRT: import, logging, build, bind ------------------------------------------------


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(version))[:2]) or (0,)


def import_tensorrt() -> Any:
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


def _trt_logger(trt: Any) -> Any:
    """A TensorRT ILogger that forwards to this module's logging logger."""
    levels = _severity_levels(trt)

    class _LogBridge(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            level = levels.get(severity, logging.INFO)
            if log.isEnabledFor(level):
                log.log(level, "TensorRT: %s", msg)

    return _LogBridge()


def _severity_levels(trt: Any) -> dict[Any, int]:
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
                            spec: ModelSpec, options: BuildOptions) -> bytes:
    """Parse the ONNX model and build a serialized engine (slow: seconds to minutes)."""
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    _parse(parser, onnx, model_path)
    shapes = profile_shapes(_input_shape(network, spec, model_path), spec.input_layout,
                            options.input_hw, options.max_batch)
    config = _builder_config(trt, builder, options)
    profile = builder.create_optimization_profile()
    profile.set_shape(spec.input_name, *shapes)
    config.add_optimization_profile(profile)
    log.info("tensorrt: building %s, profile min/opt/max %s, fp16 %s", model_path.name,
             " / ".join(map(str, shapes)), options.fp16)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ModelError(f"TensorRT could not build an engine for {model_path} "
                         "(see the TensorRT errors logged above)")
    return bytes(plan)


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


@dataclass
class _Bound:
    """A deserialized engine with its execution context and IO tensor names."""

    engine: Any
    context: Any
    input_name: str
    input_dtype: Any  # torch dtype
    outputs: dict[str, Any] = field(default_factory=dict)  # name -> torch dtype
    max_batch: int = 1
    hw: HW = (0, 0)


def _bind(trt: Any, engine: Any, spec: ModelSpec, cuda: CudaDevice, path: Path) -> _Bound:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if n not in inputs]
    if spec.input_name not in inputs:
        raise ModelError(f"engine for {path} has no input {spec.input_name!r}; inputs: "
                         f"{', '.join(map(repr, inputs))}")
    for what, ref in (("heatmaps", spec.heatmaps), ("pafs", spec.pafs)):
        if ref.output not in outputs:
            raise ModelError(f"model {path} has no output {ref.output!r} ({what}.output in "
                             f"spec {spec.source}); its outputs: {', '.join(map(repr, outputs))}")
    context = engine.create_execution_context()
    if context is None:
        raise ModelError(f"TensorRT cannot create an execution context for {path} "
                         "(out of GPU memory?)")
    largest = [int(d) for d in engine.get_tensor_profile_shape(spec.input_name, 0)[2]]
    dtypes = {n: _torch_dtype(trt, cuda.torch, engine.get_tensor_dtype(n)) for n in names}
    return _Bound(engine=engine, context=context, input_name=spec.input_name,
                  input_dtype=dtypes[spec.input_name],
                  outputs={n: dtypes[n] for n in outputs}, max_batch=largest[0],
                  hw=shape_hw(largest, spec.input_layout))


def _torch_dtype(trt: Any, torch: Any, dtype: Any) -> Any:
    table = {"FLOAT": torch.float32, "HALF": torch.float16, "INT32": torch.int32,
             "INT8": torch.int8, "BOOL": torch.bool}
    for name, torch_dtype in table.items():
        if dtype == getattr(trt.DataType, name, None):
            return torch_dtype
    raise ModelError(f"tensorrt backend: unsupported engine tensor type {dtype}")


# -- the backend ---------------------------------------------------------------------------


class TensorRTBackend(Backend):
    """Runs an ONNX model as a TensorRT engine on an NVIDIA GPU (see the module doc).

    ``device``: "cuda" or "cuda:N". ``fp16``: allow fp16 kernels (inputs and outputs stay
    float32). ``max_batch``: the engine's largest batch (larger batches run in chunks).
    ``cache_dir``: where engines are kept. ``workspace_mb``: TensorRT's scratch memory
    limit while building and running. ``input_hw``: build for this (H, W) in ``open()``;
    None builds for the first batch's size.
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
    ) -> None:
        super().__init__(spec=spec, model_path=model_path, device=device, threads=threads)
        if model_path is None:
            raise ConfigError("tensorrt backend: a model path (.onnx) is required")
        _cuda_index(device)
        if not isinstance(fp16, bool):
            raise ConfigError(f"tensorrt backend: fp16 = {fp16!r} must be true or false")
        self.fp16 = fp16
        self.max_batch = _positive_int("max_batch", max_batch)
        self.workspace_mb = _positive_int("workspace_mb", workspace_mb)
        self.cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.input_hw = _parse_hw(input_hw)
        self._trt: Any = None
        self._cuda: CudaDevice | None = None
        self._logger: Any = None
        self._runtime: Any = None
        self._onnx = b""
        self._model_sha256 = ""
        self._engines: dict[HW, _Bound] = {}
        self._wanted = list(dict.fromkeys([spec.heatmaps.output, spec.pafs.output]))

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
        self._logger = _trt_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        self._trt, self._cuda = trt, cuda
        self.cache_dir = self.cache_dir or default_cache_dir()
        log.info("tensorrt: %s on %s (%s, sm %s), TensorRT %s, fp16 %s, max batch %d",
                 path, cuda.device, cuda.name, cuda.capability, trt.__version__, self.fp16,
                 self.engine_max_batch)
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

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._trt is None:
            raise RuntimeError("tensorrt backend: infer() called before open()")
        self._check_batch(batch)
        bound = self._engine_for(shape_hw(batch.shape, self.spec.input_layout))
        if len(batch) <= bound.max_batch:
            return split_outputs(self._run(bound, batch), self.spec)
        parts = [split_outputs(self._run(bound, part), self.spec)
                 for part in _chunks(batch, bound.max_batch)]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _run(self, bound: _Bound, batch: np.ndarray) -> dict[str, np.ndarray]:
        cuda = self._cuda
        assert cuda is not None
        with cuda.stream_context():
            x = cuda.torch.from_numpy(_writable(batch)).to(device=cuda.device)
            outputs = self._execute(bound, x)
            host = {name: outputs[name].to("cpu") for name in self._wanted}
        cuda.synchronize()
        return {name: tensor.numpy() for name, tensor in host.items()}

    def _execute(self, bound: _Bound, x: Any) -> dict[str, Any]:
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

    def infer_tensor(self, x: Any) -> tuple[Any, Any]:
        """Run a float32 batch (torch tensor, the spec's layout) on the device; the heatmaps
        and PAFs come back as NCHW device tensors (device ops: nothing goes to the host)."""
        if self._trt is None or self._cuda is None:
            raise RuntimeError("tensorrt backend: infer_tensor() called before open()")
        cuda = self._cuda
        bound = self._engine_for(shape_hw(tuple(x.shape), self.spec.input_layout))
        parts = []
        cuda.wait_for_current()
        with cuda.stream_context():
            for start in range(0, len(x), bound.max_batch):
                outputs = self._execute(bound, x[start : start + bound.max_batch])
                parts.append((_nchw(outputs, self.spec.heatmaps, self.spec),
                              _nchw(outputs, self.spec.pafs, self.spec)))
                cuda.synchronize()  # the context is set up again for the next chunk
            if len(parts) > 1:
                torch = cuda.torch
                parts = [(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))]
        cuda.synchronize()  # the caller reads the results on its own stream
        return parts[0]

    def _output(self, bound: _Bound, name: str, dtype: Any) -> Any:
        """A device tensor for output ``name`` (every output needs an address)."""
        cuda = self._cuda
        assert cuda is not None
        shape = tuple(int(d) for d in bound.context.get_tensor_shape(name))
        tensor = cuda.torch.empty(shape, dtype=dtype, device=cuda.device)
        bound.context.set_tensor_address(name, tensor.data_ptr())
        return tensor

    # -- engines: one per input size, from the cache or built --------------------------------

    def _engine_for(self, hw: HW) -> _Bound:
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
                         input_layout=self.spec.input_layout, input_hw=hw)

    def _load_or_build(self, hw: HW) -> _Bound:
        key, model = self._key(hw), self.model_path
        assert model is not None and self.cache_dir is not None
        path = engine_path(self.cache_dir, model.stem, key)
        engine, reason = None, stale_reason(path, key)
        if reason is None:
            engine = self._deserialize(_read(path))
            reason = None if engine is not None else f"cached {path.name} cannot be deserialized"
        if engine is None:
            log.warning("tensorrt: building an engine for %s at %dx%d (%s); this can take "
                        "minutes", model.name, hw[0], hw[1], reason)
            engine = self._build(path, key, hw)
        else:
            log.info("tensorrt: loaded cached engine %s", path)
        assert self._cuda is not None
        return _bind(self._trt, engine, self.spec, self._cuda, model)

    def _build(self, path: Path, key: EngineKey, hw: HW) -> Any:
        assert self.model_path is not None
        options = BuildOptions(fp16=self.fp16, max_batch=self.engine_max_batch, input_hw=hw,
                               workspace_mb=self.workspace_mb)
        started = time.perf_counter()
        plan = build_serialized_engine(self._trt, self._logger, onnx=self._onnx,
                                       model_path=self.model_path, spec=self.spec,
                                       options=options)
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

    def _deserialize(self, plan: bytes | None) -> Any:
        if not plan:
            return None
        try:
            return self._runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # TensorRT's bindings raise several unexported types
            log.warning("tensorrt: deserializing an engine failed: %s", exc)
            return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        log.warning("tensorrt: cannot read %s: %s", path, exc)
        return None


def _writable(batch: np.ndarray) -> np.ndarray:
    """torch.from_numpy warns on read-only arrays; copy those (rare: the pipeline's are not)."""
    return batch if batch.flags.writeable and batch.flags.c_contiguous else batch.copy()


def _nchw(outputs: dict[str, Any], ref: Any, spec: ModelSpec) -> Any:
    """Channels ``ref`` of a device output tensor, as float NCHW."""
    tensor = outputs[ref.output]
    if spec.output_layout == "NHWC":
        return tensor[..., ref.start : ref.stop].permute(0, 3, 1, 2).float()
    return tensor[:, ref.start : ref.stop].float()


def _chunks(batch: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(batch), size):
        yield batch[start : start + size]
