"""TensorRT INT8 calibration against the fake ``tensorrt`` of test_tensorrt.py (no GPU)."""

from __future__ import annotations

import ctypes
import dataclasses
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streampose.backends.tensorrt import backend as trt_backend
from streampose.backends.tensorrt.calibrator import (
    CalibrationFeed,
    CalibrationKey,
    calibration_path,
    entropy_calibrator,
)
from streampose.errors import ConfigError, ModelError
from streampose.models.quantize import FrameCalibration, network_inputs
from streampose.sources.sample import sample_frames
from tests.backends import test_tensorrt as fakes
from tests.backends.test_tensorrt import (
    KEY,
    SPEC,
    BuilderFlag,
    FakeState,
    backend,
    batch_of,
    engines,
)

fake_trt = fakes.fake_trt  # fixtures: the fake tensorrt, a fake ONNX model
model = fakes.model

torch = pytest.importorskip("torch")

HW = (32, 48)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Four frames of two sizes (one of another aspect ratio than the engine's)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i, (h, w) in enumerate([(64, 96), (64, 96), (80, 80), (64, 96)]):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (h, w, 3), np.uint8))
    return folder


def prepared(images: Path, count: int = 4) -> list[np.ndarray]:
    """What ``streampose quantize``'s reader hands ONNX Runtime, at the engine's size."""
    inputs = network_inputs(sample_frames([str(images)], count), SPEC, size=HW)
    reader = FrameCalibration(inputs=inputs, input_name=SPEC.input_name)
    return [item[SPEC.input_name] for item in iter(reader.get_next, None)]


def calib_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.calib"))


# -- through the backend: the engine build path ------------------------------------------------


def test_int8_engine_is_calibrated_on_the_readers_frames(fake_trt: FakeState, model: Path,
                                                         images: Path, tmp_path: Path) -> None:
    cache = tmp_path / "engines"
    with backend(model, cache, input_hw=HW, int8=True, calibrate=[str(images)],
                 calibration_frames=4, calibration_loader=sample_frames) as b:
        b.infer(batch_of(2))
    config = fake_trt.configs[0]
    assert BuilderFlag.INT8 in config.flags and BuilderFlag.FP16 in config.flags
    assert config.calibration_profile is not None
    assert config.calibration_profile.shapes == {SPEC.input_name: ((1, *HW, 3),) * 3}
    expected = prepared(images)
    assert len(fake_trt.calibration) == len(expected) == 4
    for given, frame in zip(fake_trt.calibration, expected, strict=True):
        np.testing.assert_array_equal(given, frame)  # what TensorRT read at the pointer
    assert len(engines(cache)) == 1
    (calib,) = calib_files(cache)
    assert calib.read_bytes() == b"table of 4 batches"


def test_calibration_cache_is_reused_without_decoding(fake_trt: FakeState, model: Path,
                                                      images: Path, tmp_path: Path) -> None:
    cache = tmp_path / "engines"
    with backend(model, cache, input_hw=HW, int8=True, calibrate=str(images),
                 calibration_loader=sample_frames):
        pass
    for engine in cache.glob("*.engine"):
        engine.unlink()  # the engine goes; its calibration stays
    fake_trt.calibration.clear()
    with backend(model, cache, input_hw=HW, int8=True, calibrate=str(images),
                 calibration_loader=lambda *a: pytest.fail("frames read despite the cache")):
        pass
    assert fake_trt.calls["build"] == 2 and fake_trt.calibration == []
    assert len(calib_files(cache)) == 1


def test_int8_engines_have_their_own_key(fake_trt: FakeState, model: Path, images: Path,
                                         tmp_path: Path) -> None:
    with backend(model, tmp_path, input_hw=HW):
        pass
    with backend(model, tmp_path, input_hw=HW, int8=True, calibrate=str(images),
                 calibration_loader=sample_frames):
        pass
    with backend(model, tmp_path, input_hw=HW, int8=True, calibrate=str(images),
                 calibration_frames=2, calibration_loader=sample_frames):
        pass
    assert len(engines(tmp_path)) == 3 and len(calib_files(tmp_path)) == 2
    assert "int8" not in KEY.fields()  # fp16 engines keep the keys they had
    int8 = dataclasses.replace(KEY, int8=True, calibration="c" * 64)
    assert int8.fields()["calibration"] == "c" * 64 and int8.digest != KEY.digest


@pytest.mark.parametrize(("options", "message"), [
    ({"int8": True}, "int8 = true needs calibration frames"),
    ({"int8": "yes", "calibrate": "a.mp4"}, "int8 = 'yes'"),
    ({"int8": True, "calibrate": 3}, "calibrate = 3"),
    ({"int8": True, "calibrate": "a.mp4", "calibration_frames": 0}, "calibration_frames"),
])
def test_bad_int8_options(model: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        trt_backend.TensorRTBackend(spec=SPEC, model_path=model, **options)


def test_int8_needs_a_frame_loader_to_calibrate(fake_trt: FakeState, model: Path,
                                                images: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no calibration_loader"):
        backend(model, tmp_path, input_hw=HW, int8=True, calibrate=str(images)).open()


def test_calibrate_string_lists_sources(model: Path) -> None:
    b = trt_backend.TensorRTBackend(spec=SPEC, model_path=model, int8=True,
                                    calibrate="a.mp4, frames/,")
    assert b.calibrate == ("a.mp4", "frames/")


def test_int8_without_tensorrt_is_one_clear_line(model: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(ConfigError) as error:
        backend(model, tmp_path, int8=True, calibrate="a.mp4").open()
    text = str(error.value)
    assert "\n" not in text and "'tensorrt' package cannot be imported" in text
    assert "pip install 'streampose[tensorrt]'" in text


def test_tensorrt_without_calibrators_is_refused() -> None:
    module = types.ModuleType("tensorrt")
    module.__dict__["__version__"] = "11.0.0"
    with pytest.raises(ConfigError, match="no IInt8EntropyCalibrator2"):
        entropy_calibrator(module, feed(lambda: iter([]), tmp=Path(".")))


# -- the feed and the calibrator object ----------------------------------------------------------


class ListReader:
    def __init__(self, inputs: list[np.ndarray]) -> None:
        self.items = iter([{SPEC.input_name: x} for x in inputs])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def feed(make: Any, *, tmp: Path, batch: int = 1) -> CalibrationFeed:
    """A feed whose "device" is CPU torch tensors (addresses readable with ctypes)."""
    return CalibrationFeed(reader=make, input_name=SPEC.input_name, batch_size=batch,
                           cache_path=tmp / "m.calib",
                           to_device=lambda a: torch.from_numpy(a).clone())


def read_back(pointer: int, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    data = (ctypes.c_float * count).from_address(pointer)
    array: np.ndarray = np.ctypeslib.as_array(data).reshape(shape).copy()
    return array


def test_feed_stacks_batches_and_drops_the_partial_one(tmp_path: Path) -> None:
    inputs = [np.full((1, 4, 6, 3), i, np.float32) for i in range(5)]
    made: list[int] = []

    def make() -> ListReader:
        made.append(1)
        return ListReader(inputs)

    f = feed(make, tmp=tmp_path, batch=2)
    assert made == []  # no reader (no decoding) until TensorRT asks for a batch
    batches = [read_back(ptrs[0], (2, 4, 6, 3))
               for ptrs in iter(lambda: f.next_pointers([SPEC.input_name]), None)]
    assert made == [1] and f.batches == 2
    np.testing.assert_array_equal(batches[1], np.concatenate(inputs[2:4]))
    assert f.next_pointers([SPEC.input_name]) is None


def test_feed_refuses_unknown_inputs(tmp_path: Path) -> None:
    f = feed(lambda: ListReader([]), tmp=tmp_path)
    with pytest.raises(ModelError, match="asks for input"):
        f.next_pointers(["mask"])


def test_calibrator_cache_round_trip(tmp_path: Path) -> None:
    from tests.backends.test_tensorrt import fake_tensorrt

    calibrator = entropy_calibrator(fake_tensorrt(), feed(lambda: ListReader([]),
                                                          tmp=tmp_path / "sub"))
    assert calibrator.get_batch_size() == 1
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(memoryview(b"TRT-8601-EntropyCalibration2\n"))
    assert calibrator.read_calibration_cache() == b"TRT-8601-EntropyCalibration2\n"
    assert calibrator.get_batch([SPEC.input_name]) is None


def test_calibration_key_and_path(tmp_path: Path) -> None:
    key = CalibrationKey(model_sha256="a" * 64, tensorrt_version="10.3.0",
                         input_name="image", input_layout="NHWC", input_hw=HW,
                         sources=("vtest.mp4",), frames=32)
    path = calibration_path(tmp_path, "m", key)
    assert path == tmp_path / f"m-{key.digest[:16]}.calib"
    for change in ({"frames": 16}, {"sources": ("other.mp4",)}, {"input_hw": (64, 48)},
                   {"tensorrt_version": "10.4.0"}):
        assert dataclasses.replace(key, **change).digest != key.digest
