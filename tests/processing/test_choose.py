"""choose_processing: device processing only where the batch stays on a GPU, unless forced."""

from __future__ import annotations

import pytest

import streampose.processing as processing
from streampose.errors import ConfigError
from streampose.heads.paf import PafHead
from streampose.models.spec import builtin_specs
from streampose.pose.decoder import DecoderThresholds
from streampose.processing import HostProcessing, choose_processing
from tests.support.models import paf_head

SPEC = builtin_specs()["openpose-mnv2s-coco18"]


def choose(mode: str, backend: str = "fake", device: str = "cpu") -> processing.Processing:
    return choose_processing(mode, backend=backend, device=device,
                             head=paf_head(SPEC, DecoderThresholds(nms_radius=2)))


@pytest.mark.parametrize(("backend", "device"), [("fake", "cpu"), ("onnxruntime", "cuda"),
                                                 ("torch", "cpu"), ("tensorrt", "cpu")])
def test_auto_is_host_unless_torch_or_tensorrt_on_cuda(backend: str, device: str) -> None:
    chosen = choose("auto", backend, device)
    assert isinstance(chosen, HostProcessing) and not chosen.reads_frames
    assert chosen.head.on_device is False  # the head gets numpy outputs


@pytest.mark.parametrize("backend", ["torch", "tensorrt"])
def test_auto_is_device_for_torch_and_tensorrt_on_cuda(backend: str) -> None:
    pytest.importorskip("torch")
    chosen = choose("auto", backend, "cuda:1")
    assert chosen.reads_frames and chosen.head.on_device  # PAF peaks on the device too


def test_on_forces_device_processing_and_off_forces_host() -> None:
    pytest.importorskip("torch")
    on = choose("on")
    assert on.name == "device" and on.reads_frames
    assert on.spec == SPEC and isinstance(on.head, PafHead) and on.head.spec == SPEC
    assert on.head.on_device and on.head.thresholds.nms_radius == 2
    off = choose("off", "torch", "cuda")
    assert isinstance(off, HostProcessing) and not off.head.on_device


def test_device_processing_keeps_a_head_without_device_support_on_the_host() -> None:
    pytest.importorskip("torch")

    class HostOnly(PafHead):
        name = "host-only"
        supports_device = False

    chosen = choose_processing("on", backend="fake", device="cpu", head=HostOnly(SPEC))
    assert chosen.reads_frames and chosen.head.on_device is False


def test_on_needs_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "importable", lambda name: name != "torch")
    with pytest.raises(ConfigError, match="needs torch"):
        choose("on")
