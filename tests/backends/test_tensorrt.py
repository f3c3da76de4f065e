"""TensorRT backend: engine cache logic, and the build/load/run flow against a fake TensorRT.

No GPU and no TensorRT are needed except for the test marked ``gpu``. The fake ``tensorrt``
module below implements just the API the backend calls; its "ONNX model" is a JSON file
naming the input and output, its "engine" is JSON with a magic prefix, and its execution
context reads the input and writes the outputs through the raw addresses it is given (CPU
torch tensors stand in for CUDA ones), so the backend's data path runs for real.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import importlib.util
import json
import logging
import os
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streampose.backends.tensorrt import backend as trt_backend
from streampose.backends.tensorrt import builder, engine_cache
from streampose.backends.tensorrt import cuda as trt_cuda
from streampose.backends.tensorrt.backend import TensorRTBackend
from streampose.backends.tensorrt.shapes import profile_shapes
from streampose.errors import ConfigError, ModelError
from streampose.models.spec import builtin_specs
from tests.support.models import paf_head, paf_maps
from tests.support.shared import shared_file

torch = pytest.importorskip("torch")

# NHWC in, one NHWC output of 57 channels; the shared model's spec caps batches at 1 (its
# BatchNorm uses batch statistics), lifted here so batching is exercised.
SHARED_SPEC = builtin_specs()["openpose-mnv2s-coco18"]
SPEC = dataclasses.replace(SHARED_SPEC, max_batch=0)
OUTPUT = SPEC.head_options.heatmaps.output
CHANNELS = 57
MAGIC = b"FAKE-TRT-PLAN\n"


# -- a fake tensorrt module ------------------------------------------------------------------


class Severity(enum.Enum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = Severity

    def __init__(self) -> None:
        pass


class Logger(ILogger):
    WARNING = Severity.WARNING

    def __init__(self, severity: Severity = Severity.WARNING) -> None:
        super().__init__()


NetworkDefinitionCreationFlag = enum.IntEnum(
    "NetworkDefinitionCreationFlag", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1})
BuilderFlag = enum.Enum("BuilderFlag", "FP16 INT8")
MemoryPoolType = enum.Enum("MemoryPoolType", "WORKSPACE")
TensorIOMode = enum.Enum("TensorIOMode", "NONE INPUT OUTPUT")
DataType = enum.Enum("DataType", "FLOAT HALF INT32 INT8 BOOL")


class FakeNetwork:
    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.inputs: list[types.SimpleNamespace] = []
        self.outputs: dict[str, int] = {}

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> types.SimpleNamespace:
        return self.inputs[index]


class ParserError:
    def __init__(self, node: int, desc: str) -> None:
        self._node, self._desc = node, desc

    def node(self) -> int:
        return self._node

    def desc(self) -> str:
        return self._desc

    def code(self) -> str:
        return "ErrorCode.UNSUPPORTED_NODE"


class OnnxParser:
    def __init__(self, network: FakeNetwork, logger: ILogger) -> None:
        self.network, self.errors = network, []

    def parse(self, model: bytes, path: str | None = None) -> bool:
        try:
            desc = json.loads(model)
        except ValueError:
            self.errors = [ParserError(3, "No importer registered for op: Frobnicate"),
                           ParserError(-1, "model has no graph")]
            return False
        for name, shape in desc["inputs"].items():
            self.network.inputs.append(types.SimpleNamespace(name=name, shape=tuple(shape)))
        self.network.outputs = desc["outputs"]
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> ParserError:
        return self.errors[index]


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[Any, Any, Any]] = {}

    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self.shapes[name] = (tuple(low), tuple(opt), tuple(high))


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


class FakeConfig:
    def __init__(self) -> None:
        self.flags: set[Any] = set()
        self.pools: dict[Any, int] = {}
        self.profiles: list[FakeProfile] = []
        self.int8_calibrator: Any = None
        self.calibration_profile: FakeProfile | None = None

    def set_calibration_profile(self, profile: FakeProfile) -> None:
        self.calibration_profile = profile

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag)

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1


class Builder:
    platform_has_fast_fp16 = True
    fail = False

    def __init__(self, logger: ILogger) -> None:
        self.logger = logger

    def create_network(self, flags: int = 0) -> FakeNetwork:
        STATE.networks.append(FakeNetwork(flags))
        return STATE.networks[-1]

    def create_builder_config(self) -> FakeConfig:
        STATE.configs.append(FakeConfig())
        return STATE.configs[-1]

    def create_optimization_profile(self) -> FakeProfile:
        return FakeProfile()

    def build_serialized_network(self, network: FakeNetwork, config: FakeConfig) -> Any:
        STATE.calls["build"] += 1
        if Builder.fail:
            return None
        (name, (low, opt, high)), = config.profiles[0].shapes.items()
        plan = {"input": name, "profile": [low, opt, high], "outputs": network.outputs,
                "fp16": BuilderFlag.FP16 in config.flags,
                "int8": BuilderFlag.INT8 in config.flags and _calibrate(config, name)}
        return MAGIC + json.dumps(plan).encode()


def _calibrate(config: FakeConfig, name: str) -> str:
    """What TensorRT does with an entropy calibrator: the cache if it has one, else every
    batch read from the device addresses it is given, then the table written."""
    calibrator = config.int8_calibrator
    cache = calibrator.read_calibration_cache()
    if cache:
        return bytes(cache).decode()
    assert config.calibration_profile is not None
    (_, shape, _), = config.calibration_profile.shapes.values()
    assert calibrator.get_batch_size() == shape[0]
    while (pointers := calibrator.get_batch([name])) is not None:
        STATE.calibration.append(_array(pointers[0], shape).copy())
    table = f"table of {len(STATE.calibration)} batches"
    calibrator.write_calibration_cache(memoryview(table.encode()))
    return table


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, data: bytes) -> FakeEngine | None:
        STATE.calls["deserialize"] += 1
        if not bytes(data).startswith(MAGIC):
            return None  # what TensorRT does (after logging an error)
        return FakeEngine(json.loads(bytes(data)[len(MAGIC):]))


class FakeEngine:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.names = [plan["input"], *plan["outputs"]]

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> Any:
        return TensorIOMode.INPUT if name == self.plan["input"] else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return DataType.FLOAT

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[list[int]]:
        return self.plan["profile"]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        """An output's declared shape: dynamic N, H, W (-1), static channels (NHWC)."""
        return (-1, -1, -1, self.plan["outputs"][name])

    def create_execution_context(self) -> FakeContext:
        return FakeContext(self)


def _array(address: int, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address)).reshape(shape)


class FakeContext:
    """NHWC in; out[i, y, x, c] = c + mean(input[i]) at stride 8 (NHWC)."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.shape, self.addresses = engine, None, {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        low, _, high = self.engine.plan["profile"]
        self.shape = tuple(shape)
        return all(lo <= d <= hi for lo, d, hi in zip(low, shape, high, strict=True))

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        n, h, w, _ = self.shape
        return (n, h // 8, w // 8, self.engine.plan["outputs"][name])

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        STATE.calls["execute"] += 1
        STATE.batches.append(self.shape[0])
        image = _array(self.addresses[self.engine.plan["input"]], self.shape)
        for name in self.engine.plan["outputs"]:
            out = _array(self.addresses[name], self.get_tensor_shape(name))
            out[:] = np.arange(out.shape[-1], dtype=np.float32)
            out += image.mean(axis=(1, 2, 3)).reshape(-1, 1, 1, 1)
        return True


class FakeState:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.networks: list[FakeNetwork] = []
        self.configs: list[FakeConfig] = []
        self.batches: list[int] = []
        self.calibration: list[np.ndarray] = []


STATE = FakeState()


def fake_tensorrt(version: str = "10.3.0") -> types.ModuleType:
    module = types.ModuleType("tensorrt")
    module.__version__ = version
    for obj in (ILogger, Logger, NetworkDefinitionCreationFlag, BuilderFlag, MemoryPoolType,
                TensorIOMode, DataType, OnnxParser, Builder, Runtime, IInt8EntropyCalibrator2):
        setattr(module, obj.__name__, obj)
    return module


# -- fixtures ------------------------------------------------------------------------------


def fake_cuda(name: str = "Fake GPU 80GB", capability: str = "9.0") -> trt_cuda.CudaDevice:
    return trt_cuda.CudaDevice(torch=torch, device=torch.device("cpu"), name=name,
                           capability=capability, stream=None)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> FakeState:
    """A fake tensorrt module and a fake GPU (CPU tensors); returns the call counters."""
    global STATE
    STATE = FakeState()
    Builder.fail = False
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt())
    monkeypatch.setattr(trt_backend, "open_cuda", lambda device: fake_cuda())
    return STATE


def write_model(path: Path, *, shape: tuple[int, ...] = (-1, -1, -1, 3),
                extra: str = "") -> Path:
    desc = {"inputs": {SPEC.input_name: list(shape)}, "outputs": {OUTPUT: CHANNELS},
            "extra": extra}
    path.write_text(json.dumps(desc))
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "openpose-mnv2s-coco18.onnx")


def backend(model: Path, cache: Path, **options: Any) -> TensorRTBackend:
    return TensorRTBackend(spec=SPEC, model_path=model, device="cuda",
                           cache_dir=cache, **options)


def batch_of(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    values = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) * 10
    return np.broadcast_to(values, (n, h, w, 3)).copy()


def engines(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.suffix == ".engine")


KEY = engine_cache.EngineKey(model_sha256="a" * 64, gpu_name="NVIDIA H100 80GB HBM3",
                     compute_capability="9.0", tensorrt_version="10.3.0", fp16=True,
                     max_batch=8, input_name="image:0", input_layout="NHWC",
                     input_hw=(368, 656))


# -- cache key, names, staleness, atomic writes -----------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("model_sha256", "b" * 64),
    ("gpu_name", "NVIDIA GeForce RTX 4090"),
    ("compute_capability", "8.9"),
    ("tensorrt_version", "10.4.0"),
    ("fp16", False),
    ("max_batch", 16),
    ("input_hw", (368, 496)),
    ("input_layout", "NCHW"),
    ("input_name", "input"),
])
def test_key_changes_with_every_field(field: str, value: object) -> None:
    changed = dataclasses.replace(KEY, **{field: value})
    assert changed.digest != KEY.digest
    assert dataclasses.replace(KEY).digest == KEY.digest
    assert len(KEY.digest) == 64


def test_engine_and_sidecar_names(tmp_path: Path) -> None:
    path = engine_cache.engine_path(tmp_path, "openpose-mnv2s-coco18", KEY)
    assert path == tmp_path / f"openpose-mnv2s-coco18-{KEY.digest[:16]}.engine"
    assert engine_cache.sidecar_path(path) == path.with_name(f"{path.stem}.json")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMPOSE_CACHE", str(tmp_path))
    if importlib.util.find_spec("streampose.models.download") is not None:
        assert engine_cache.default_cache_dir() == tmp_path / "engines"
    monkeypatch.setitem(sys.modules, "streampose.models.download", None)  # module absent
    assert engine_cache.default_cache_dir() == Path.home() / ".cache" / "streampose" / "engines"


def test_stale_reason(tmp_path: Path) -> None:
    path = engine_cache.engine_path(tmp_path, "m", KEY)
    assert "no cached engine" in engine_cache.stale_reason(path, KEY)
    path.write_bytes(b"plan")
    assert "no sidecar" in engine_cache.stale_reason(path, KEY)
    engine_cache.sidecar_path(path).write_text("{not json")
    assert "unreadable sidecar" in engine_cache.stale_reason(path, KEY)
    engine_cache.store_engine(path, b"plan", dataclasses.replace(KEY, fp16=False), Path("m.onnx"))
    reason = engine_cache.stale_reason(path, KEY)
    assert "another key" in reason and "fp16: False -> True" in reason
    engine_cache.store_engine(path, b"plan", KEY, Path("m.onnx"))
    assert engine_cache.stale_reason(path, KEY) is None
    assert json.loads(engine_cache.sidecar_path(path).read_text())["digest"] == KEY.digest


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.engine"
    engine_cache.atomic_write(target, b"one")
    engine_cache.atomic_write(target, memoryview(b"two"))
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["x.engine"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path: Path, failing: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.engine"
    target.write_bytes(b"old")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space"):
        engine_cache.atomic_write(target, b"new")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["x.engine"]
    assert target.read_bytes() == b"old"


# -- profile shapes and options ------------------------------------------------------------------


def test_profile_shapes_dynamic_nhwc() -> None:
    low, opt, high = profile_shapes((-1, -1, -1, 3), "NHWC", (368, 656), 8)
    assert (low, opt, high) == ((1, 368, 656, 3), (4, 368, 656, 3), (8, 368, 656, 3))


def test_profile_shapes_nchw_static_batch_and_channels() -> None:
    shapes = profile_shapes((2, -1, -1, -1), "NCHW", (256, 320), 8)
    assert shapes == ((2, 3, 256, 320),) * 3
    assert profile_shapes((-1, 3, -1, -1), "NCHW", (64, 64), 1)[1] == (1, 3, 64, 64)


def test_profile_shapes_static_size_must_match() -> None:
    assert profile_shapes((-1, 368, 656, 3), "NHWC", (368, 656), 4)[2] == (4, 368, 656, 3)
    with pytest.raises(ModelError, match="static width 656"):
        profile_shapes((-1, 368, 656, 3), "NHWC", (368, 496), 4)
    with pytest.raises(ModelError, match="4-D"):
        profile_shapes((-1, 368, 656), "NHWC", (368, 656), 4)


@pytest.mark.parametrize(("options", "message"), [
    ({"device": "cpu"}, "NVIDIA GPUs only"),
    ({"device": "cuda:x"}, "allowed: 'cuda', 'cuda:N'"),
    ({"max_batch": 0}, "max_batch = 0"),
    ({"workspace_mb": True}, "workspace_mb = True"),
    ({"fp16": "yes"}, "fp16 = 'yes'"),
    ({"input_hw": "368"}, "input_hw = '368'"),
    ({"input_hw": (368, 0)}, "positive sizes"),
])
def test_bad_options(model: Path, options: dict[str, Any], message: str) -> None:
    kwargs = {"spec": SPEC, "model_path": model, "device": "cuda", **options}
    with pytest.raises(ConfigError, match=message):
        TensorRTBackend(**kwargs)


def test_options_are_read(model: Path) -> None:
    with pytest.raises(ConfigError, match="model path"):
        TensorRTBackend(spec=SPEC, model_path=None)
    b = TensorRTBackend(spec=SPEC, model_path=model, device="cuda:1", input_hw="368x656",
                        cache_dir="~/engines")
    assert b.input_hw == (368, 656) and b.cache_dir == Path.home() / "engines"
    assert b.engine_max_batch == 8
    assert TensorRTBackend(spec=SHARED_SPEC, model_path=model).engine_max_batch == 1


# -- imports and CUDA ------------------------------------------------------------------------


def test_open_without_tensorrt_names_the_install(model: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'streampose\[tensorrt\]'"):
        backend(model, tmp_path).open()


def test_old_tensorrt_is_refused(model: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("8.2.5.1"))
    with pytest.raises(ConfigError, match=r"TensorRT 8.2.5.1 is too old; it needs >= 8.5"):
        backend(model, tmp_path).open()


def test_open_cuda_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
        trt_cuda.open_cuda("cuda")


def test_open_cuda_with_a_faked_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stream:
        def __init__(self, device: int) -> None:
            self.device, self.cuda_stream = device, 1234

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i: (8, 6))
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    cuda = trt_cuda.open_cuda("cuda:1")
    assert (cuda.name, cuda.capability, cuda.stream_handle, chosen) == ("Fake GPU 1", "8.6",
                                                                        1234, [1])
    assert cuda.device == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match="only 2 CUDA device"):
        trt_cuda.open_cuda("cuda:2")


def test_tensorrt_messages_go_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    logger = builder.trt_logger(fake_tensorrt())
    with caplog.at_level(logging.DEBUG, logger=builder.__name__):
        logger.log(Severity.ERROR, "parse failed")
        logger.log(Severity.VERBOSE, "tactic 7")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "TensorRT: parse failed"), (logging.DEBUG, "TensorRT: tactic 7")]


# -- build, cache, load, run against the fake ----------------------------------------------------


def test_build_once_then_load_from_cache(fake_trt: FakeState, model: Path,
                                         tmp_path: Path) -> None:
    cache = tmp_path / "engines"
    with backend(model, cache, input_hw=(32, 48)) as b:
        assert fake_trt.calls["build"] == 1
        outputs = b.infer(batch_of(3))
    assert list(outputs) == [OUTPUT] and outputs[OUTPUT].shape == (3, 4, 6, 57)  # raw NHWC
    heatmaps, pafs = paf_maps(SPEC, outputs)
    files = engines(cache)
    assert len(files) == 1 and files[0].startswith("openpose-mnv2s-coco18-")
    assert sorted(os.listdir(cache)) == [files[0], files[0].replace(".engine", ".json")]
    assert heatmaps.shape == (3, 19, 4, 6) and pafs.shape == (3, 38, 4, 6)
    assert heatmaps.dtype == pafs.dtype == np.float32 and heatmaps.flags.c_contiguous
    np.testing.assert_allclose(heatmaps[2, 5], 20 + 5)  # channel + mean of image 2
    np.testing.assert_allclose(pafs[1, 0], 10 + 19)

    with backend(model, cache, input_hw=(32, 48)) as again:
        again.infer(batch_of(1))
    assert fake_trt.calls["build"] == 1  # loaded, not rebuilt
    assert fake_trt.calls["deserialize"] == 2


def test_build_settings(fake_trt: FakeState, model: Path, tmp_path: Path) -> None:
    with backend(model, tmp_path, input_hw=(32, 48), workspace_mb=256):
        pass
    network, config = fake_trt.networks[0], fake_trt.configs[0]
    assert network.flags == 0  # TensorRT 10: always explicit batch
    assert BuilderFlag.FP16 in config.flags
    assert config.pools == {MemoryPoolType.WORKSPACE: 256 << 20}
    assert config.profiles[0].shapes == {SPEC.input_name: (
        (1, 32, 48, 3), (4, 32, 48, 3), (8, 32, 48, 3))}


def test_explicit_batch_flag_before_tensorrt_10(fake_trt: FakeState, model: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("8.6.1"))
    with backend(model, tmp_path, input_hw=(32, 48), fp16=False):
        pass
    assert fake_trt.networks[0].flags == 1 << int(NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    assert BuilderFlag.FP16 not in fake_trt.configs[0].flags


def test_tensorrt_without_fp16_flag_builds_anyway(fake_trt: FakeState, model: Path,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    module = fake_tensorrt("11.0.0")
    module.BuilderFlag = enum.Enum("BuilderFlag", "INT8")  # strongly typed only
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    with backend(model, tmp_path, input_hw=(32, 48)) as b:
        assert paf_maps(SPEC, b.infer(batch_of(1)))[0].shape == (1, 19, 4, 6)
    assert fake_trt.configs[0].flags == set()
    assert "no FP16 builder flag" in caplog.text


def test_engine_is_built_for_the_first_batch_size(fake_trt: FakeState, model: Path,
                                                  tmp_path: Path) -> None:
    with backend(model, tmp_path) as b:
        assert fake_trt.calls["build"] == 0  # no size yet
        b.infer(batch_of(2))
        b.infer(batch_of(1))
        assert fake_trt.calls["build"] == 1
        heatmaps, _ = paf_maps(SPEC, b.infer(batch_of(2, h=64, w=64)))  # another aspect ratio
        assert heatmaps.shape == (2, 19, 8, 8)
    assert fake_trt.calls["build"] == 2 and len(engines(tmp_path)) == 2


def test_large_batches_run_in_chunks(fake_trt: FakeState, model: Path, tmp_path: Path) -> None:
    with backend(model, tmp_path, max_batch=2, input_hw=(32, 48)) as b:
        heatmaps, pafs = paf_maps(SPEC, b.infer(batch_of(5)))
    assert fake_trt.batches == [2, 2, 1]
    np.testing.assert_allclose(heatmaps[:, 0, 0, 0], [0, 10, 20, 30, 40])
    assert pafs.shape == (5, 38, 4, 6)


def test_infer_tensor_matches_infer_and_stays_on_the_device(fake_trt: FakeState, model: Path,
                                                           tmp_path: Path) -> None:
    """Device ops hand the engine a device tensor and take device tensors back (NCHW)."""
    with backend(model, tmp_path, max_batch=2, input_hw=(32, 48)) as b:
        assert b.tensor_device == torch.device("cpu")  # the stand-in GPU
        want = b.infer(batch_of(5))
        got = b.infer_tensor(torch.from_numpy(batch_of(5)))
    assert list(got) == list(want) == [OUTPUT]
    assert all(isinstance(t, torch.Tensor) for t in got.values())
    assert fake_trt.batches == [2, 2, 1, 2, 2, 1]
    for name, tensor in got.items():
        np.testing.assert_array_equal(tensor.numpy(), want[name])


def test_output_shapes_come_from_the_engine(fake_trt: FakeState, model: Path,
                                           tmp_path: Path) -> None:
    """Known once an engine exists (its input size is needed to build it); the PAF head
    checks them as for any backend."""
    with backend(model, tmp_path) as b:
        assert b.output_shapes() == {}  # no input size yet: no engine
        b.infer(batch_of(1))
        shapes = b.output_shapes()
    assert shapes == {OUTPUT: (None, None, None, CHANNELS)}
    paf_head(SPEC).check_outputs(shapes, model=str(model))
    too_far = dataclasses.replace(SPEC, head_options=dataclasses.replace(
        SPEC.head_options, pafs=dataclasses.replace(SPEC.head_options.pafs, stop=59)))
    with pytest.raises(ModelError, match=r"only 57 channels.*pafs\.channels"):
        paf_head(too_far).check_outputs(shapes, model=str(model))


def test_spec_max_batch_caps_the_engine(fake_trt: FakeState, model: Path,
                                        tmp_path: Path) -> None:
    with TensorRTBackend(spec=SHARED_SPEC, model_path=model, cache_dir=tmp_path,
                         input_hw=(32, 48)) as b:
        heatmaps, _ = paf_maps(SPEC, b.infer(batch_of(3)))
    assert fake_trt.configs[0].profiles[0].shapes[SPEC.input_name][2] == (1, 32, 48, 3)
    assert fake_trt.batches == [1, 1, 1]
    np.testing.assert_allclose(heatmaps[:, 0, 0, 0], [0, 10, 20])


def test_corrupted_cache_file_is_rebuilt(fake_trt: FakeState, model: Path,
                                         tmp_path: Path) -> None:
    with backend(model, tmp_path, input_hw=(32, 48)):
        pass
    (name,) = engines(tmp_path)
    (tmp_path / name).write_bytes(b"\x00garbage")
    with backend(model, tmp_path, input_hw=(32, 48)) as b:
        b.infer(batch_of(1))
    assert fake_trt.calls["build"] == 2
    assert (tmp_path / name).read_bytes().startswith(MAGIC)  # replaced by the new build
    with backend(model, tmp_path, input_hw=(32, 48)):
        pass
    assert fake_trt.calls["build"] == 2


def test_stale_sidecar_is_rebuilt(fake_trt: FakeState, model: Path, tmp_path: Path) -> None:
    with backend(model, tmp_path, input_hw=(32, 48)):
        pass
    (name,) = engines(tmp_path)
    sidecar = tmp_path / name.replace(".engine", ".json")
    record = json.loads(sidecar.read_text())
    record["key"]["tensorrt_version"] = "9.0.0"
    sidecar.write_text(json.dumps(record))
    with backend(model, tmp_path, input_hw=(32, 48)):
        pass
    assert fake_trt.calls["build"] == 2


@pytest.mark.parametrize("change", ["model bytes", "fp16", "max_batch", "gpu"])
def test_changes_give_another_engine(fake_trt: FakeState, model: Path, tmp_path: Path,
                                     change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with backend(model, tmp_path, input_hw=(32, 48)):
        pass
    options: dict[str, Any] = {"input_hw": (32, 48)}
    if change == "model bytes":
        write_model(model, extra="retrained")
    elif change == "gpu":
        monkeypatch.setattr(trt_backend, "open_cuda", lambda device: fake_cuda("Other GPU", "8.9"))
    else:
        options[change] = {"fp16": False, "max_batch": 4}[change]
    with backend(model, tmp_path, **options):
        pass
    assert fake_trt.calls["build"] == 2 and len(engines(tmp_path)) == 2


def test_parser_errors_are_listed(fake_trt: FakeState, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07 not a model")
    with pytest.raises(ModelError, match=r"cannot parse ONNX model .*bad.onnx") as info:
        backend(bad, tmp_path, input_hw=(32, 48)).open()
    assert "node 3: No importer registered for op: Frobnicate" in str(info.value)
    assert "model has no graph" in str(info.value)
    assert engines(tmp_path) == []


def test_wrong_input_name_and_failed_build(fake_trt: FakeState, tmp_path: Path) -> None:
    other = write_model(tmp_path / "other.onnx")
    renamed = dataclasses.replace(SPEC, input_name="input")
    with pytest.raises(ModelError, match=r"no input 'input'.*inputs are: 'image:0'"):
        TensorRTBackend(spec=renamed, model_path=other, cache_dir=tmp_path,
                        input_hw=(32, 48)).open()
    Builder.fail = True
    with pytest.raises(ModelError, match="could not build an engine"):
        backend(other, tmp_path, input_hw=(32, 48)).open()


def test_static_model_size_must_match_the_batch(fake_trt: FakeState, tmp_path: Path) -> None:
    static = write_model(tmp_path / "static.onnx", shape=(1, 32, 48, 3))
    with backend(static, tmp_path, max_batch=8) as b:
        heatmaps, _ = paf_maps(SPEC, b.infer(batch_of(3)))  # static batch 1: one image per run
        assert heatmaps.shape[0] == 3 and fake_trt.batches == [1, 1, 1]
        with pytest.raises(ModelError, match="static height 32"):
            b.infer(batch_of(1, h=64))


def test_unwritable_cache_still_runs(fake_trt: FakeState, model: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(trt_backend, "store_engine", refuse)
    with backend(model, tmp_path, input_hw=(32, 48)) as b:
        assert paf_maps(SPEC, b.infer(batch_of(1)))[0].shape == (1, 19, 4, 6)
    assert "cannot cache the engine" in caplog.text


def test_lifecycle(fake_trt: FakeState, model: Path, tmp_path: Path) -> None:
    b = backend(model, tmp_path, input_hw=(32, 48))
    with pytest.raises(RuntimeError, match="before open"):
        b.infer(batch_of(1))
    b.close()  # without open
    b.open()
    b.open()  # idempotent
    with pytest.raises(ValueError, match="float32 NHWC"):
        b.infer(batch_of(1).astype(np.float64))
    b.close()
    b.close()
    with pytest.raises(RuntimeError, match="before open"):
        b.infer(batch_of(1))
    assert fake_trt.calls["build"] == 1


# -- a real GPU ----------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.shared
def test_real_engine_matches_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from streampose.backends.ort import OnnxRuntimeBackend

    onnx = shared_file("models/openpose-mnv2s-coco18.onnx")
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, size=(4, 368, 656, 3)).astype(np.float32)
    with OnnxRuntimeBackend(spec=SHARED_SPEC, model_path=onnx) as ort:
        expected = ort.infer(batch)
    with TensorRTBackend(spec=SHARED_SPEC, model_path=onnx, cache_dir=tmp_path, fp16=False,
                         input_hw=(368, 656)) as trt:
        got = trt.infer(batch)
    assert list(got) == list(expected)
    for name, array in got.items():
        np.testing.assert_allclose(array, expected[name], atol=2e-3, rtol=1e-2)
