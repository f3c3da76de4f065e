"""A minimal model spec, the PAF head and the processing strategies built on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = Path("openpose-mnv2s-coco18.onnx")  # the fake backend only needs its spec


def paf_head(spec: Any, thresholds: Any = None, *, on_device: bool = False) -> Any:
    """The PAF head of ``spec`` (a ModelSpec) with decoder ``thresholds`` (default ones);
    ``on_device``: peaks found where the outputs are (what device processing sets)."""
    from streampose.config.sections import DecoderThresholds
    from streampose.heads import HeadSettings, make_head

    head = make_head(spec, HeadSettings(paf=thresholds or DecoderThresholds()))
    head.on_device = on_device
    return head


def host_processing(spec: Any, thresholds: Any = None) -> Any:
    """HostProcessing of ``spec`` with its PAF head."""
    from streampose.processing import HostProcessing

    return HostProcessing(spec=spec, head=paf_head(spec, thresholds))


def device_processing(spec: Any, thresholds: Any = None) -> Any:
    """DeviceProcessing of ``spec`` with its PAF head finding the peaks on the device (as
    ``choose_processing`` sets it up)."""
    from streampose.processing.device import DeviceProcessing

    return DeviceProcessing(spec=spec, head=paf_head(spec, thresholds, on_device=True))


def paf_maps(spec: Any, outputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(heatmaps, pafs)``, float32 NCHW, that the PAF head of ``spec`` reads from a
    backend's raw ``outputs`` (one host payload per image, stacked)."""
    payloads = paf_head(spec).payloads(outputs, len(next(iter(outputs.values()))))
    return (np.stack([p.heatmaps for p in payloads]), np.stack([p.pafs for p in payloads]))


def valid_spec_dict() -> dict[str, Any]:
    """The smallest valid model-spec dict (``ModelSpec.from_dict``): a COCO18 NHWC net."""
    return {
        "name": "net",
        "skeleton": "coco18",
        "input_name": "image:0",
        "input_layout": "NHWC",
        "output_layout": "NHWC",
        "color": "BGR",
        "stride": 8,
        "heatmaps": {"output": "out", "channels": [0, 19]},
        "pafs": {"output": "out", "channels": [19, 57]},
    }
