"""Model specs: loading, validation, lookup order."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from streampose.errors import ModelError
from streampose.heads.paf import PafOutputs
from streampose.models.resolve import resolve_spec
from streampose.models.spec import ModelSpec, OutputRef, builtin_specs
from tests.support.models import valid_spec_dict

BUILTIN = Path(__file__).resolve().parents[2] / "streampose/models/specs"
SHIPPED = BUILTIN / "openpose-mnv2s-coco18.toml"

VALID = """\
name = "custom-net"
skeleton = "coco18"
input_name = "input"
input_layout = "NCHW"
output_layout = "NCHW"
color = "RGB"
mean = [123.675, 116.28, 103.53]
scale = [0.017, 0.0175, 0.0174]
stride = 8
pad_value = 128

[heatmaps]
output = "heatmaps"
channels = [0, 19]

[pafs]
output = "pafs"
channels = [0, 38]
"""


def test_shipped_spec_loads_with_model_md_values() -> None:
    spec = ModelSpec.from_toml(SHIPPED)
    assert spec.name == "openpose-mnv2s-coco18"
    assert spec.skeleton == "coco18"
    assert (spec.input_name, spec.input_layout) == ("image:0", "NHWC")
    assert (spec.color, spec.stride, spec.pad_value) == ("BGR", 8, 0.0)
    assert spec.mean == (0.0, 0.0, 0.0) and spec.scale == (1.0, 1.0, 1.0)
    assert (spec.centred, spec.input_height) == (False, 368)  # the defaults
    assert spec.head == "paf" and isinstance(spec.head_options, PafOutputs)
    outputs = spec.head_options  # the PAF head's part of the spec
    assert outputs.output_layout == "NHWC"
    assert outputs.heatmaps == OutputRef(output="Openpose/concat_stage7:0", start=0, stop=19)
    assert outputs.pafs == OutputRef(output="Openpose/concat_stage7:0", start=19, stop=57)
    assert (outputs.heatmaps.count, outputs.pafs.count) == (19, 38)
    assert spec.is_identity_normalisation
    assert spec.max_batch == 1  # batch-statistics BatchNorm: see the spec's comment


def test_builtin_specs_are_found_by_name() -> None:
    assert builtin_specs()["openpose-mnv2s-coco18"] == ModelSpec.from_toml(SHIPPED)


def test_full_spec_with_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(VALID)
    spec = ModelSpec.from_toml(path)
    assert spec.mean == (123.675, 116.28, 103.53)
    assert spec.pad_value == 128.0 and isinstance(spec.pad_value, float)
    assert spec.input_shape(2, 368, 656) == (2, 3, 368, 656)
    assert spec.normalise(128.0) == pytest.approx(
        ((128 - 123.675) * 0.017, (128 - 116.28) * 0.0175, (128 - 103.53) * 0.0174)
    )
    assert spec.source == str(path)


def test_defaults_and_pickle() -> None:
    spec = ModelSpec.from_dict(valid_spec_dict())
    assert (spec.mean, spec.scale, spec.pad_value) == ((0, 0, 0), (1, 1, 1), 0.0)
    assert spec.max_batch == 0
    assert (spec.head, spec.centred, spec.input_height) == ("paf", False, 368)
    assert spec.input_shape(1, 368, 496) == (1, 368, 496, 3)
    assert pickle.loads(pickle.dumps(spec)) == spec  # crosses to worker processes


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("resolution",), 368, "unknown key 'resolution'"),
        (("heatmaps", "layout"), "NCHW", "unknown key 'heatmaps.layout'"),
    ],
)
def test_unknown_keys_are_rejected(path: tuple[str, ...], value: object, expected: str) -> None:
    d = valid_spec_dict()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ModelError, match=expected) as info:
        ModelSpec.from_dict(d, source="my.toml")
    assert "my.toml" in str(info.value)


def test_unknown_key_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(VALID.replace("stride = 8", "strid = 8"))
    with pytest.raises(ModelError, match="unknown key 'strid'") as info:
        ModelSpec.from_toml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("input_layout", "NWHC", r"input_layout = 'NWHC' \(allowed: NCHW \| NHWC\)"),
        ("output_layout", "nchw", r"output_layout = 'nchw' \(allowed: NCHW \| NHWC\)"),
        ("color", "GRAY", r"color = 'GRAY' \(allowed: BGR \| RGB\)"),
        ("mean", [0.0, 0.0], r"mean = \[0.0, 0.0\] \(allowed: a list of 3 numbers\)"),
        ("scale", [1, "a", 1], r"scale = \[1, 'a', 1\]"),
        ("mean", 0.0, "mean = 0.0"),
        ("stride", 0, r"stride = 0 \(allowed: an integer > 0\)"),
        ("stride", 8.0, "stride = 8.0"),
        ("stride", True, "stride = True"),
        ("pad_value", "zero", "pad_value = 'zero'"),
        ("max_batch", -1, r"max_batch = -1 \(allowed: an integer >= 0"),
        ("max_batch", 1.0, "max_batch = 1.0"),
        ("centred", "yes", r"centred = 'yes' \(allowed: true or false\)"),
        ("centred", 1, "centred = 1"),
        ("input_height", 0, r"input_height = 0 \(allowed: an integer > 0\)"),
        ("input_height", 368.0, "input_height = 368.0"),
        ("head", "", "head = ''"),
        ("head", 7, "head = 7"),
        ("name", "", "name = ''"),
        ("input_name", 3, "input_name = 3"),
        ("heatmaps", {"output": "out", "channels": [19, 0]}, r"heatmaps.channels = \[19, 0\]"),
        ("heatmaps", {"output": "out", "channels": [-1, 5]}, "heatmaps.channels"),
        ("heatmaps", {"output": "out", "channels": [0, 19, 3]}, "heatmaps.channels"),
        ("heatmaps", {"output": "", "channels": [0, 19]}, "heatmaps.output = ''"),
        ("heatmaps", {"output": "out"}, "missing key 'heatmaps.channels'"),
        ("pafs", "out", "pafs = 'out'"),
        ("pafs", {"output": "out", "channels": [19, 56]}, "pafs.channels.*even"),
        ("pafs", {"output": "out", "channels": [10, 48]}, "overlap"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, expected: str) -> None:
    d = valid_spec_dict()
    d[field] = value
    with pytest.raises(ModelError, match=expected) as info:
        ModelSpec.from_dict(d, source="bad.toml")
    assert "bad.toml" in str(info.value)


def test_unknown_head_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "net.toml"
    path.write_text('head = "yolo"\n' + VALID)
    with pytest.raises(ModelError, match=r"invalid head = 'yolo' \(allowed: .*paf") as info:
        ModelSpec.from_toml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("key", ["pafs", "heatmaps", "output_layout"])
def test_a_paf_spec_needs_its_outputs(key: str) -> None:
    d = valid_spec_dict()
    del d[key]
    with pytest.raises(ModelError, match=rf"bad\.toml: missing key\(s\) '{key}'.*paf head"):
        ModelSpec.from_dict(d, source="bad.toml")


def test_unknown_key_lists_the_generic_and_the_head_keys() -> None:
    with pytest.raises(ModelError, match="unknown key 'resolution'") as info:
        ModelSpec.from_dict({**valid_spec_dict(), "resolution": 368}, source="bad.toml")
    known = str(info.value).split("known keys: ")[1]
    for key in ("stride", "head", "centred", "input_height", "output_layout", "heatmaps",
                "pafs"):
        assert key in known


def test_missing_required_key() -> None:
    d = valid_spec_dict()
    del d["stride"]
    with pytest.raises(ModelError, match=r"missing key.*'stride'"):
        ModelSpec.from_dict(d)


def test_overlap_is_fine_on_different_outputs() -> None:
    d = valid_spec_dict()
    d["pafs"] = {"output": "other", "channels": [0, 38]}
    assert ModelSpec.from_dict(d).head_options.pafs.output == "other"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = ")
    with pytest.raises(ModelError, match="not valid TOML"):
        ModelSpec.from_toml(broken)
    with pytest.raises(ModelError, match="cannot read model spec"):
        ModelSpec.from_toml(tmp_path / "absent.toml")


# resolve_spec: explicit > sidecar > built-in > error


def _write_spec(path: Path, name: str) -> Path:
    path.write_text(VALID.replace('"custom-net"', f'"{name}"'))
    return path


def test_resolve_explicit_wins_over_sidecar(tmp_path: Path) -> None:
    model = tmp_path / "openpose-mnv2s-coco18.onnx"
    _write_spec(tmp_path / "openpose-mnv2s-coco18.toml", "sidecar")
    explicit = _write_spec(tmp_path / "explicit.toml", "explicit")
    assert resolve_spec(model, explicit).name == "explicit"


def test_resolve_sidecar_wins_over_builtin(tmp_path: Path) -> None:
    model = tmp_path / "openpose-mnv2s-coco18.onnx"
    _write_spec(tmp_path / "openpose-mnv2s-coco18.toml", "sidecar")
    assert resolve_spec(model).name == "sidecar"


def test_resolve_builtin_by_model_stem(tmp_path: Path) -> None:
    spec = resolve_spec(tmp_path / "openpose-mnv2s-coco18.onnx")
    assert spec == ModelSpec.from_toml(SHIPPED)


def test_resolve_missing_tells_to_pass_model_spec(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="--model-spec") as info:
        resolve_spec(tmp_path / "mystery.onnx")
    assert "mystery" in str(info.value)


def test_resolve_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"absent\.toml"):
        resolve_spec(tmp_path / "openpose-mnv2s-coco18.onnx", tmp_path / "absent.toml")


def test_resolve_broken_sidecar_is_an_error_not_skipped(tmp_path: Path) -> None:
    sidecar = tmp_path / "openpose-mnv2s-coco18.toml"
    sidecar.write_text("extra = 1\n" + SHIPPED.read_text())
    with pytest.raises(ModelError, match="unknown key 'extra'"):
        resolve_spec(tmp_path / "openpose-mnv2s-coco18.onnx")
