"""``streampose engine`` (backends/tensorrt/prebuild.py) against the fake ``tensorrt``."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.backends.tensorrt.backend import TensorRTBackend
from streampose.backends.tensorrt.prebuild import EngineRequest, engine_size, prebuild
from streampose.cli import main
from streampose.errors import ConfigError
from streampose.models.resolve import resolve_spec
from streampose.sources.sample import sample_frames
from tests.backends import test_tensorrt as fakes
from tests.backends.test_tensorrt import FakeState

fake_trt = fakes.fake_trt  # fixtures: the fake tensorrt, a fake ONNX model
model = fakes.model

pytest.importorskip("torch")


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (36, 48, 3), np.uint8))
    return folder


def test_int8_engine_is_built_where_a_run_finds_it(fake_trt: FakeState, model: Path,
                                                    frames: Path, tmp_path: Path) -> None:
    request = EngineRequest(model=model, precision="int8", calibrate=(str(frames),),
                            frames=3, height=64, cache_dir=tmp_path / "engines")
    engine, calibration = prebuild(request, frames=sample_frames)
    assert engine.is_file() and calibration is not None and calibration.is_file()
    assert len(fake_trt.calibration) == 3
    spec = resolve_spec(model)
    size = engine_size(sample_frames([str(frames)], 1)[0], spec, 64)
    assert size == (64, 88)  # 48x36 at height 64, width rounded up to the stride
    run = TensorRTBackend(spec=spec, model_path=model, device="cuda", input_hw=size,
                          **request.backend_options())  # a cached calibration: no loader
    with run:
        assert run.engine_file(size) == engine
    assert fake_trt.calls["build"] == 1  # the run loaded it


def test_engine_command(fake_trt: FakeState, model: Path, frames: Path, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["engine", str(model), "--precision", "int8", "--calibrate", str(frames),
                 "--size", "32x48", "--cache-dir", str(tmp_path / "e")])
    out = capsys.readouterr().out
    assert code == 0 and fake_trt.calls["build"] == 1
    assert out.startswith(f"engine: {tmp_path / 'e'}") and "calibration cache: " in out
    assert (f"--backend tensorrt --backend-option fp16=True --backend-option max_batch=8 "
            f"--backend-option int8=True --backend-option calibrate={frames}") in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--precision", "int8"], "--precision int8 needs --calibrate SOURCE..."),
    (["--size", "big"], "--size big (expected HxW"),
    ([], "give the run's source (--for SOURCE) or --size HxW"),
])
def test_engine_command_usage_errors(fake_trt: FakeState, model: Path, argv: list[str],
                                     message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engine", str(model), *argv]) == ConfigError.exit_code
    assert message in capsys.readouterr().err


def test_engine_command_without_tensorrt_is_one_line(model: Path, frames: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    code = main(["engine", str(model), "--precision", "int8", "--calibrate", str(frames)])
    err = capsys.readouterr().err
    assert code == ConfigError.exit_code
    assert err.count("\n") == 1 and err.startswith("streampose: error: tensorrt backend: "
                                                   "the 'tensorrt' package cannot be imported")
