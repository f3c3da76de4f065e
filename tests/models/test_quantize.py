"""streampose quantize: INT8 QDQ from the run's own network inputs, on a tiny ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from streampose.cli import main
from streampose.models.quant_probe import FloatReference, compute_groups
from streampose.models.quantize import (
    FrameCalibration,
    QuantSettings,
    network_inputs,
    node_names,
    quantize_model,
    quantized_nodes,
)
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import letterbox_into, plan_for_spec
from tests.support.onnx_files import save_graph

SPEC = """name = "tiny"
skeleton = "coco18"
input_name = "input"
input_layout = "NCHW"
output_layout = "NCHW"
color = "RGB"
mean = [0.0, 0.0, 0.0]
scale = [0.00392156862745098, 0.00392156862745098, 0.00392156862745098]
stride = 8
pad_value = 114.0
input_height = 64

[heatmaps]
output = "out"
channels = [0, 19]

[pafs]
output = "out"
channels = [19, 57]
"""


def _conv(name: str, inputs: str, out: str, shape: tuple[int, ...],
          rng: np.random.Generator) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    weight = numpy_helper.from_array(
        rng.normal(0, 0.3, shape).astype(np.float32), f"{name}_w")
    bias = numpy_helper.from_array(rng.normal(0, 0.1, shape[0]).astype(np.float32), f"{name}_b")
    pad = shape[-1] // 2
    node = helper.make_node("Conv", [inputs, weight.name, bias.name], [out], name=name,
                            pads=[pad] * 4)
    return node, [weight, bias]


def tiny_model(folder: Path) -> Path:
    """conv 3x3 -> relu -> conv 3x3 -> relu -> conv 1x1 (57 maps), dynamic H and W,
    with its spec sidecar."""
    rng = np.random.default_rng(0)
    c1, w1 = _conv("conv1", "input", "c1", (8, 3, 3, 3), rng)
    c2, w2 = _conv("conv2", "r1", "c2", (8, 8, 3, 3), rng)
    c3, w3 = _conv("head", "r2", "out", (57, 8, 1, 1), rng)
    nodes = [c1, helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             c2, helper.make_node("Relu", ["c2"], ["r2"], name="relu2"), c3]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 57, "h", "w"])],
        [*w1, *w2, *w3])
    path = save_graph(graph, folder / "tiny.onnx")
    path.with_suffix(".toml").write_text(SPEC)
    return path


def frames(count: int = 4, size: tuple[int, int] = (96, 72)) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    ys, xs = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([xs * 2, ys * 3, xs + ys], axis=-1) % 256
    return [np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)
            for _ in range(count)]


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    return tiny_model(tmp_path)


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "calib"
    folder.mkdir()
    for i, frame in enumerate(frames()):
        cv2.imwrite(str(folder / f"f{i}.png"), frame)
    return folder


def _spec() -> ModelSpec:
    import tomllib

    return ModelSpec.from_dict(tomllib.loads(SPEC), source="test")


def test_network_inputs_are_the_runs_letterboxed_inputs() -> None:
    spec, frame = _spec(), frames(1)[0]
    plan = plan_for_spec(spec, src_w=frame.shape[1], src_h=frame.shape[0])
    want = np.empty(spec.input_shape(1, plan.in_h, plan.in_w)[1:], np.float32)
    letterbox_into(frame, plan, want, spec=spec)
    (got,) = network_inputs([frame], spec)
    assert got.shape == (1, *want.shape) and got.dtype == np.float32
    np.testing.assert_array_equal(got[0], want)


def test_frames_of_several_sizes_share_the_largest_input() -> None:
    spec = _spec()
    small, wide = frames(1, (64, 64))[0], frames(1, (160, 64))[0]
    got = network_inputs([small, wide], spec)
    assert {x.shape for x in got} == {(1, 3, 64, 160)}
    plan = plan_for_spec(spec, src_w=64, src_h=64)
    want = np.empty((3, 64, 64), np.float32)
    letterbox_into(small, plan, want, spec=spec)
    np.testing.assert_array_equal(got[0][0, :, :, :64], want)
    np.testing.assert_allclose(got[0][0, :, :, 64:], 114 / 255, rtol=1e-6)  # the padding


def test_calibration_reader_yields_each_input_once_and_rewinds() -> None:
    inputs = network_inputs(frames(3), _spec())
    reader = FrameCalibration(inputs=inputs, input_name="input")
    got = [reader.get_next() for _ in range(4)]
    assert got[3] is None and len(reader) == 3
    for item, want in zip(got[:3], inputs, strict=True):
        assert item is not None and item["input"] is want
    reader.rewind()
    first = reader.get_next()
    assert first is not None and first["input"] is inputs[0]


def test_quantized_model_is_int8_qdq_and_close_to_float(tiny: Path, tmp_path: Path) -> None:
    spec = resolve_spec(tiny)
    inputs = network_inputs(frames(), spec)
    out = tmp_path / "q.onnx"
    quantize_model(tiny, out, inputs, spec=spec, settings=QuantSettings())
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    weights = {i.name: i.data_type for i in model.graph.initializer}
    assert weights["conv1_w_quantized"] == TensorProto.INT8
    assert quantized_nodes(model) >= {"conv1", "conv2", "head"}
    error = FloatReference(tiny, inputs, input_name="input", threads=1).error(out)
    assert error < 0.05


def test_excluded_nodes_stay_float(tiny: Path, tmp_path: Path) -> None:
    spec = resolve_spec(tiny)
    out = tmp_path / "q.onnx"
    quantize_model(tiny, out, network_inputs(frames(), spec), spec=spec,
                   settings=QuantSettings(method="percentile", exclude=("head",)))
    model = onnx.load(str(out))
    head = next(n for n in model.graph.node if n.name == "head")
    floats = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT}
    assert head.input[1] == "head_w" and "head_w" in floats  # a float weight, no DQ
    assert not any(n.op_type == "QuantizeLinear" and n.input[0] == "out"
                   for n in model.graph.node)  # nor a Q after it
    assert "head" not in quantized_nodes(model) and "conv2" in quantized_nodes(model)


def test_groups_name_the_usual_suspects(tiny: Path) -> None:
    groups = compute_groups(tiny, chunks=3)
    assert groups["output layers"] == ("head",) and "output decoding" not in groups
    assert groups["first layer"] == ("conv1",)
    assert sum(len(v) for k, v in groups.items() if k.startswith("layers ")) == 3
    assert node_names(tiny, ["Relu"]) == ["relu1", "relu2"]


def test_command_writes_model_spec_and_report(tiny: Path, images: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny-int8.onnx"
    assert main(["quantize", str(tiny), "-o", str(out), "--calibrate", str(images),
                 "--frames", "3", "--method", "minmax"]) == 0
    assert "model ms per frame" in capsys.readouterr().out
    assert resolve_spec(out).input_name == "input"  # the sidecar: --model OUT.onnx runs
    assert "streampose quantize" in out.with_suffix(".toml").read_text().splitlines()[0]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["calibration_frames"] == 3 and report["ap_float"] is None
    assert set(report["ms_int8"]) >= {"1"} and report["float_layers"] == []
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(out)).graph.node}


@pytest.mark.parametrize(("case", "code"), [("model", 5), ("frames", 3), ("out", 4)])
def test_bad_input_is_one_line_and_an_exit_code(case: str, code: int, tiny: Path, images: Path,
                                                tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    model = tmp_path / "missing.onnx" if case == "model" else tiny
    calibrate = empty if case == "frames" else images
    out = tmp_path / "no" / "such" / "q.onnx" if case == "out" else tmp_path / "q.onnx"
    assert main(["quantize", str(model), "-o", str(out), "--calibrate", str(calibrate)]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("streampose: error:") and "\n" not in err


def test_layers_are_left_in_float_until_the_drop_is_within_bounds(
        tiny: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AP stand-in: the float model 0.5; a quantized one 0.5 only with ``head`` in float."""
    from streampose import quantize as command

    def ap(search: object, model: Path) -> float:
        return 0.5 if model == tiny or "head" in command._float_layers(model) else 0.1

    monkeypatch.setattr(command._Search, "_ap", ap)
    annotations = tmp_path / "ann.json"
    annotations.write_text("{}")
    out = tmp_path / "q.onnx"
    report = command.quantize(command.QuantRequest(
        model=tiny, out=out, calibrate=(str(images),), images=str(images),
        annotations=annotations, frames=3, methods=("minmax",), equalize=False))
    assert report.ap_float == 0.5 and report.ap_int8 == 0.5 and report.within_drop
    assert "head" in report.float_layers and report.float_groups
    assert "head" not in quantized_nodes(out) and "conv2" in quantized_nodes(out)
    steps = [t.step for t in report.tried if t.ap is not None]
    assert steps[0] == "calibration minmax" and steps[-1].startswith("float: ")
    assert json.loads(out.with_suffix(".json").read_text())["within_drop"] is True


def test_nothing_is_written_beside_the_input_model(tiny: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime writes MODEL-inferred.onnx beside the model it is given: it is given
    a copy in a temporary folder (the input model's folder may be shared or read-only)."""
    from streampose.models import quantize as module

    given: list[Path] = []
    real = module.quantize_static

    def spy(model: str, *args: object, **kwargs: object) -> None:
        given.append(Path(model))
        real(model, *args, **kwargs)

    monkeypatch.setattr(module, "quantize_static", spy)
    spec = resolve_spec(tiny)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = set(tiny.parent.iterdir())
    quantize_model(tiny, out_dir / "q.onnx", network_inputs(frames(2), spec), spec=spec,
                   settings=QuantSettings())
    assert given and given[0].parent not in (tiny.parent, out_dir)
    assert set(tiny.parent.iterdir()) == before


def test_qoperator_format_writes_int8_operators(tiny: Path, tmp_path: Path) -> None:
    from streampose.quantize import _float_layers

    spec = resolve_spec(tiny)
    out = tmp_path / "q.onnx"
    settings = QuantSettings(format="qoperator", exclude=("head",))
    quantize_model(tiny, out, network_inputs(frames(), spec), spec=spec, settings=settings)
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("QLinearConv") == 2 and ops.count("Conv") == 1
    assert _float_layers(out) == {"head"}
    assert "QOperator" in settings.describe() and "QOperator" not in QuantSettings().describe()


def test_unknown_format_is_a_model_error() -> None:
    from streampose.errors import ModelError

    with pytest.raises(ModelError, match="quantization format"):
        QuantSettings(format="qint")


def test_command_format_option_reaches_the_model(tiny: Path, images: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "tiny-int8.onnx"
    assert main(["quantize", str(tiny), "-o", str(out), "--calibrate", str(images),
                 "--frames", "2", "--method", "minmax", "--format", "qoperator"]) == 0
    assert "QLinearConv" in {n.op_type for n in onnx.load(str(out)).graph.node}
    report = json.loads(out.with_suffix(".json").read_text())
    assert "QOperator" in report["tried"][0]["settings"]
    assert set(report["ms_float"]) == set(report["ms_int8"])


@pytest.mark.parametrize(("errors", "current", "want"), [
    ({"output layers": 0.5, "first layer": 0.1}, 1.0, "first layer"),  # a clear winner
    # the measured YOLO11n-pose step: differences of noise, the usual suspect first
    ({"output layers": 0.0601, "first layer": 0.0599, "layers 35-51": 0.0598}, 0.0602,
     "output layers"),
    ({"output layers": 0.08, "first layer": 0.0601}, 0.06, "first layer"),  # not worse
    ({"output layers": 0.09, "first layer": 0.08}, 0.06, "first layer"),  # all worse
])
def test_pick_group_ranks_by_error_unless_the_errors_are_noise(
        errors: dict[str, float], current: float, want: str) -> None:
    from streampose.quantize import pick_group

    assert pick_group(errors, current) == want


def test_a_sensitivity_ranked_set_within_the_drop_ends_the_search(
        tiny: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AP stand-in: 0.5 with ``conv2`` in float (it writes r2 and reads r1: every
    sensitivity set holds it); those sets come before the greedy groups, the first that
    fits its budget is kept and the search stops."""
    from streampose import quantize as command
    from streampose.models import quant_sensitivity

    def ap(search: object, model: Path) -> float:
        return 0.5 if model == tiny or "conv2" in command._float_layers(model) else 0.1

    monkeypatch.setattr(command._Search, "_ap", ap)
    monkeypatch.setattr(quant_sensitivity, "BUDGETS", (0.01, 0.9))
    annotations = tmp_path / "ann.json"
    annotations.write_text("{}")
    report = command.quantize(command.QuantRequest(
        model=tiny, out=tmp_path / "q.onnx", calibrate=(str(images),), images=str(images),
        annotations=annotations, frames=3, methods=("minmax",), equalize=False))
    assert report.within_drop and report.float_groups == [
        "sensitive layers, 90% of multiply-adds"]
    assert [t.step for t in report.tried][-1] == "float: sensitive layers, 90% of multiply-adds"
    assert set(report.profile) == {"float", "INT8"}
    assert report.profile["INT8"]["by_op"] and "time by operator" in "\n".join(report.lines())


def test_sensitivity_sets_are_tried_with_the_two_closest_calibrations(
        tiny: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AP stand-in: 0.5 only for a percentile model with ``conv2`` in float."""
    from streampose import quantize as command
    from streampose.models import quant_sensitivity

    def ap(search: object, model: Path) -> float:
        wanted = model in {command._Search._path_of(search, t.step)  # type: ignore[arg-type]
                           for t in search.tried if "(percentile)" in t.step}  # type: ignore[attr-defined]
        return 0.5 if model == tiny or wanted else 0.1

    monkeypatch.setattr(command._Search, "_ap", ap)
    monkeypatch.setattr(quant_sensitivity, "BUDGETS", (0.9,))
    annotations = tmp_path / "ann.json"
    annotations.write_text("{}")
    report = command.quantize(command.QuantRequest(
        model=tiny, out=tmp_path / "q.onnx", calibrate=(str(images),), images=str(images),
        annotations=annotations, frames=3, methods=("minmax", "percentile"),
        equalize=False))
    steps = [t.step for t in report.tried if t.step.startswith("float: sensitive")]
    assert steps[-1] == "float: sensitive layers, 90% of multiply-adds (percentile)"
    assert report.within_drop and report.method == "percentile"


def test_held_back_names_the_int8_model_s_other_operators() -> None:
    from streampose.quantize import QuantReport

    profile = {"ms": 10.0, "by_op": {"QLinearConv": 6.0, "QLinearSigmoid": 2.0,
                                     "QLinearMul": 1.6, "Transpose": 0.4},
               "count": {"QLinearConv": 9, "QLinearSigmoid": 8, "QLinearMul": 8,
                         "Transpose": 2}, "top": []}
    report = QuantReport(model="m", out="o", method="minmax", calibration_frames=1,
                         ap_float=None, ap_int8=None, max_drop=0.02, ms_float={"1": 2.0},
                         ms_int8={"1": 1.0}, float_layers=[], float_groups=[],
                         profile={"INT8": profile})
    assert [(h["op"], h["count"]) for h in report.held_back] == [
        ("QLinearSigmoid", 8), ("QLinearMul", 8)]  # Transpose: 4%, under the 5% shown
    assert report.to_json()["held_back"][0]["share"] == pytest.approx(0.2)
    assert "beside its INT8 convolutions: QLinearSigmoid x8 2.0 ms (20%)" in \
        "\n".join(report.lines())
