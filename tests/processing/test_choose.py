"""choose_processing: device processing only where the batch stays on a GPU, unless forced."""

from __future__ import annotations

import pytest

import streampose.processing as processing
from streampose.errors import ConfigError
from streampose.models.spec import builtin_specs
from streampose.pose.decoder import DecoderThresholds
from streampose.processing import HostProcessing, choose_processing

SPEC = builtin_specs()["openpose-mnv2s-coco18"]


def choose(mode: str, backend: str = "fake", device: str = "cpu") -> processing.Processing:
    return choose_processing(mode, backend=backend, device=device, spec=SPEC,
                             thresholds=DecoderThresholds(nms_radius=2))


@pytest.mark.parametrize(("backend", "device"), [("fake", "cpu"), ("onnxruntime", "cuda"),
                                                 ("torch", "cpu"), ("tensorrt", "cpu")])
def test_auto_is_host_unless_torch_or_tensorrt_on_cuda(backend: str, device: str) -> None:
    chosen = choose("auto", backend, device)
    assert isinstance(chosen, HostProcessing) and not chosen.reads_frames


@pytest.mark.parametrize("backend", ["torch", "tensorrt"])
def test_auto_is_device_for_torch_and_tensorrt_on_cuda(backend: str) -> None:
    pytest.importorskip("torch")
    assert choose("auto", backend, "cuda:1").reads_frames


def test_on_forces_device_processing_and_off_forces_host() -> None:
    pytest.importorskip("torch")
    on = choose("on")
    assert on.name == "device" and on.reads_frames
    assert on.spec == SPEC and on.thresholds.nms_radius == 2
    assert isinstance(choose("off", "torch", "cuda"), HostProcessing)


def test_on_needs_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "importable", lambda name: name != "torch")
    with pytest.raises(ConfigError, match="needs torch"):
        choose("on")
