"""TensorRT backend: an engine built from the ONNX model, cached on disk, fp16 by default.

One module per concept (see ARCHITECTURE.md for where backends sit in the pipeline):

- :mod:`.shapes`: input shapes and the optimization profile (pure);
- :mod:`.engine_cache`: the cache key, engine and sidecar files, staleness, atomic writes;
- :mod:`.builder`: importing ``tensorrt``, its logger bridge, building an engine from ONNX;
- :mod:`.calibrator`: INT8 calibration (an entropy calibrator fed by ``streampose
  quantize``'s reader, its cache beside the engines);
- :mod:`.cuda`: the GPU through torch (device identity, stream, tensors);
- :mod:`.binding`: a deserialized engine with its execution context and IO tensors;
- :mod:`.backend`: :class:`TensorRTBackend`, one engine per input size, loaded or built.

Requirements: ``tensorrt`` >= 8.5 (the named-tensor API: ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``; TensorRT 10 works the same way) and a CUDA
build of torch. Nothing here imports ``tensorrt`` or torch until a backend is opened.

Verified without a GPU: the cache key, naming, staleness and atomic writes, and the
build/load/rebuild flow and the data path against a fake ``tensorrt`` module (CPU torch
tensors), and INT8 calibration (batches, cache) against the same fake. Not verified: a
real TensorRT build or run, fp16 or int8; no GPU with TensorRT was available
(``benchmarks/trt_int8.py`` measures them where one is).
"""

from streampose.backends.tensorrt.backend import TensorRTBackend
from streampose.backends.tensorrt.binding import BoundEngine, bind
from streampose.backends.tensorrt.builder import (
    INSTALL_HINT,
    BuildOptions,
    build_serialized_engine,
    import_tensorrt,
    trt_logger,
)
from streampose.backends.tensorrt.calibrator import (
    CalibrationFeed,
    CalibrationKey,
    calibration_path,
    entropy_calibrator,
)
from streampose.backends.tensorrt.cuda import CudaDevice, cuda_index, open_cuda
from streampose.backends.tensorrt.engine_cache import (
    ENGINE_SCHEMA,
    EngineKey,
    atomic_write,
    default_cache_dir,
    engine_path,
    read_engine,
    sidecar_path,
    stale_reason,
    store_engine,
)
from streampose.backends.tensorrt.shapes import HW, Shape, profile_shapes, shape_hw

__all__ = [
    "ENGINE_SCHEMA",
    "HW",
    "INSTALL_HINT",
    "BoundEngine",
    "BuildOptions",
    "CalibrationFeed",
    "CalibrationKey",
    "CudaDevice",
    "EngineKey",
    "Shape",
    "TensorRTBackend",
    "atomic_write",
    "bind",
    "build_serialized_engine",
    "calibration_path",
    "cuda_index",
    "default_cache_dir",
    "engine_path",
    "entropy_calibrator",
    "import_tensorrt",
    "open_cuda",
    "profile_shapes",
    "read_engine",
    "shape_hw",
    "sidecar_path",
    "stale_reason",
    "store_engine",
    "trt_logger",
]
