"""planning/engine.py: the backend options a run hands the TensorRT backend."""

from __future__ import annotations

from streampose.planning.engine import _backend_options
from streampose.pose.letterbox import plan_letterbox
from streampose.sources.sample import sample_frames

PLAN = plan_letterbox(src_w=480, src_h=360, height=368, stride=8)


def test_tensorrt_gets_the_input_size_and_int8_a_frame_loader() -> None:
    options = _backend_options("tensorrt", {"int8": True, "calibrate": "a.mp4"},
                               frozenset({PLAN}))
    assert options == {"int8": True, "calibrate": "a.mp4", "input_hw": (368, 496),
                       "calibration_loader": sample_frames}
    assert "calibration_loader" not in _backend_options("tensorrt", {}, frozenset({PLAN}))


def test_other_backends_get_the_options_as_given() -> None:
    given = {"int8": True, "spin": True}
    assert _backend_options("onnxruntime", given, frozenset({PLAN})) == given
