"""Lightweight OpenPose (streampose.models.lightweight_openpose) against the original layout.

The authors' code and released checkpoint (``checkpoint_iter_370000.pth``) cannot live in this
repository, so equivalence with the original network is established in two independent parts:

1. **Same parameters.** :func:`expected_shapes` writes out, from the paper's / release's layout
   (not from the module under test), every key and tensor shape of the released checkpoint's
   ``state_dict``. A state dict built from that table, saved as ``{"state_dict": ...}`` like
   the release, loads into the module with ``strict=True``: the checkpoint fits unchanged.
2. **Same function.** :func:`reference_forward` re-derives the forward pass with plain
   ``torch.nn.functional`` ops (conv2d, batch_norm in eval mode, relu, elu, cat) applied
   directly to those state-dict tensors, following the same layout. With random weights and
   non-trivial BatchNorm statistics, the module's outputs equal the reference's within 1e-4.

Together: any weights of the released shape/names produce the original network's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the Lightweight OpenPose model needs torch")

import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

from streampose.models import OUTPUT_NAMES  # noqa: E402
from streampose.models.lightweight_openpose import (  # noqa: E402
    SPEC,
    LightweightOpenPose,
    build_lightweight_openpose,
    load_checkpoint,
)
from streampose.models.spec import ModelSpec  # noqa: E402

# Learnable parameters of the default network (1 refinement stage), derived by hand from the
# layout and cross-checked against the table below.
PARAMETER_COUNT = 4_091_698

# Backbone blocks 1..11 of the release: (in, out, stride, dilation of the depthwise conv).
BACKBONE = [
    (32, 64, 1, 1),
    (64, 128, 2, 1),
    (128, 128, 1, 1),
    (128, 256, 2, 1),
    (256, 256, 1, 1),
    (256, 512, 1, 1),
    (512, 512, 1, 2),
    (512, 512, 1, 1),
    (512, 512, 1, 1),
    (512, 512, 1, 1),
    (512, 512, 1, 1),
]
CH, HM, PAF = 128, 19, 38
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

Shapes = dict[str, tuple[int, ...]]


# --- the released checkpoint's keys and shapes, written out from the layout ------------------


def _conv(shapes: Shapes, key: str, cout: int, cin: int, k: int, *, bias: bool) -> None:
    shapes[f"{key}.weight"] = (cout, cin, k, k)
    if bias:
        shapes[f"{key}.bias"] = (cout,)


def _bn(shapes: Shapes, key: str, c: int) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{key}.{name}"] = (c,)
    shapes[f"{key}.num_batches_tracked"] = ()


def _head(shapes: Shapes, key: str, cin: int, hidden: int, cout: int) -> None:
    _conv(shapes, f"{key}.0.0", hidden, cin, 1, bias=True)
    _conv(shapes, f"{key}.1.0", cout, hidden, 1, bias=True)


def _backbone_shapes(shapes: Shapes) -> None:
    _conv(shapes, "model.0.0", 32, 3, 3, bias=False)
    _bn(shapes, "model.0.1", 32)
    for k, (cin, cout, _, _) in enumerate(BACKBONE, start=1):
        _conv(shapes, f"model.{k}.0", cin, 1, 3, bias=False)  # depthwise: 1 input per group
        _bn(shapes, f"model.{k}.1", cin)
        _conv(shapes, f"model.{k}.3", cout, cin, 1, bias=False)
        _bn(shapes, f"model.{k}.4", cout)


def _cpm_shapes(shapes: Shapes) -> None:
    _conv(shapes, "cpm.align.0", CH, 512, 1, bias=True)
    for i in range(3):
        _conv(shapes, f"cpm.trunk.{i}.0", CH, 1, 3, bias=False)
        _conv(shapes, f"cpm.trunk.{i}.2", CH, CH, 1, bias=False)
    _conv(shapes, "cpm.conv.0", CH, CH, 3, bias=True)


def _initial_shapes(shapes: Shapes) -> None:
    for i in range(3):
        _conv(shapes, f"initial_stage.trunk.{i}.0", CH, CH, 3, bias=True)
    _head(shapes, "initial_stage.heatmaps", CH, 512, HM)
    _head(shapes, "initial_stage.pafs", CH, 512, PAF)


def _refinement_shapes(shapes: Shapes, s: int) -> None:
    stage = f"refinement_stages.{s}"
    for b in range(5):
        block = f"{stage}.trunk.{b}"
        _conv(shapes, f"{block}.initial.0", CH, CH + HM + PAF if b == 0 else CH, 1, bias=True)
        for j in range(2):
            _conv(shapes, f"{block}.trunk.{j}.0", CH, CH, 3, bias=True)
            _bn(shapes, f"{block}.trunk.{j}.1", CH)
    _head(shapes, f"{stage}.heatmaps", CH, CH, HM)
    _head(shapes, f"{stage}.pafs", CH, CH, PAF)


def expected_shapes(num_refinement_stages: int = 1) -> Shapes:
    """Every state-dict key of the original network and its shape."""
    shapes: Shapes = {}
    _backbone_shapes(shapes)
    _cpm_shapes(shapes)
    _initial_shapes(shapes)
    for s in range(num_refinement_stages):
        _refinement_shapes(shapes, s)
    return shapes


def random_state_dict(shapes: Shapes, seed: int = 0) -> dict[str, Tensor]:
    """He-scaled conv weights, small biases, BatchNorm with non-trivial affine and statistics."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Tensor] = {}
    for key, shape in shapes.items():
        name = key.rsplit(".", 1)[1]
        if name == "num_batches_tracked":
            sd[key] = torch.tensor(370000, dtype=torch.long)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif name == "running_var":
            sd[key] = torch.rand(shape, generator=g) * 1.5 + 0.5
        elif name == "weight":  # BatchNorm gamma
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:  # conv / BN bias, running_mean
            sd[key] = torch.randn(shape, generator=g) * 0.2
    return sd


# --- an independent functional forward pass over the state dict ------------------------------


def _functional(sd: dict[str, Tensor]) -> dict[str, Callable[..., Tensor]]:
    def conv(x: Tensor, key: str, *, stride: int = 1, dilation: int = 1) -> Tensor:
        w = sd[f"{key}.weight"]
        groups = x.shape[1] // w.shape[1]
        pad = dilation * (w.shape[-1] // 2)
        return F.conv2d(x, w, sd.get(f"{key}.bias"), stride, pad, dilation, groups)

    def bn(x: Tensor, key: str) -> Tensor:
        return F.batch_norm(
            x,
            sd[f"{key}.running_mean"],
            sd[f"{key}.running_var"],
            sd[f"{key}.weight"],
            sd[f"{key}.bias"],
            training=False,
            eps=1e-5,
        )

    return {"conv": conv, "bn": bn}


def reference_forward(
    sd: dict[str, Tensor], x: Tensor, num_refinement_stages: int = 1
) -> list[Tensor]:
    ops = _functional(sd)
    conv, bn = ops["conv"], ops["bn"]

    y = F.relu(bn(conv(x, "model.0.0", stride=2), "model.0.1"))
    for k, (_, _, stride, dilation) in enumerate(BACKBONE, start=1):
        y = F.relu(bn(conv(y, f"model.{k}.0", stride=stride, dilation=dilation), f"model.{k}.1"))
        y = F.relu(bn(conv(y, f"model.{k}.3"), f"model.{k}.4"))

    a = F.relu(conv(y, "cpm.align.0"))
    t = a
    for i in range(3):
        t = F.elu(conv(F.elu(conv(t, f"cpm.trunk.{i}.0")), f"cpm.trunk.{i}.2"))
    features = F.relu(conv(a + t, "cpm.conv.0"))

    def heads(h: Tensor, stage: str) -> list[Tensor]:
        return [
            conv(F.relu(conv(h, f"{stage}.{name}.0.0")), f"{stage}.{name}.1.0")
            for name in ("heatmaps", "pafs")
        ]

    h = features
    for i in range(3):
        h = F.relu(conv(h, f"initial_stage.trunk.{i}.0"))
    outputs = heads(h, "initial_stage")

    for s in range(num_refinement_stages):
        h = torch.cat([features, outputs[-2], outputs[-1]], dim=1)
        for b in range(5):
            block = f"refinement_stages.{s}.trunk.{b}"
            p = F.relu(conv(h, f"{block}.initial.0"))
            r = F.relu(bn(conv(p, f"{block}.trunk.0.0"), f"{block}.trunk.0.1"))
            r = F.relu(bn(conv(r, f"{block}.trunk.1.0", dilation=2), f"{block}.trunk.1.1"))
            h = p + r
        outputs += heads(h, f"refinement_stages.{s}")
    return outputs


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def release_sd() -> dict[str, Tensor]:
    return random_state_dict(expected_shapes(1))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, release_sd: dict[str, Tensor]) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint_iter_370000.pth"
    torch.save({"state_dict": release_sd}, path)
    return path


@pytest.fixture(scope="module")
def loaded(checkpoint: Path) -> LightweightOpenPose:
    return build_lightweight_openpose(weights=checkpoint)


def _save(path: Path, obj: object) -> Path:
    torch.save(obj, path)
    return path


def _params(shapes: Shapes) -> int:
    return sum(math.prod(shape) for key, shape in shapes.items() if not key.endswith(BN_BUFFERS))


# --- size and shapes -------------------------------------------------------------------------


def test_parameter_count() -> None:
    model = LightweightOpenPose()
    count = sum(p.numel() for p in model.parameters())
    assert count == PARAMETER_COUNT == _params(expected_shapes(1))
    assert 4_000_000 <= count <= 4_200_000


def test_state_dict_matches_release_layout() -> None:
    for stages in (0, 1, 2):
        model = LightweightOpenPose(num_refinement_stages=stages)
        actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert actual == expected_shapes(stages)


@pytest.mark.parametrize(
    ("shape", "out_hw"),
    [
        ((1, 3, 368, 368), (46, 46)),
        ((2, 3, 256, 456), (32, 57)),
        ((3, 3, 100, 148), (13, 19)),  # odd sizes: ceil(size / 8) through three stride-2 convs
        ((1, 3, 9, 17), (2, 3)),
    ],
)
def test_output_shapes(shape: tuple[int, int, int, int], out_hw: tuple[int, int]) -> None:
    model = build_lightweight_openpose()
    assert not model.training
    with torch.no_grad():
        heatmaps, pafs = model(torch.zeros(shape))
    assert heatmaps.shape == (shape[0], 19, *out_hw)
    assert pafs.shape == (shape[0], 38, *out_hw)
    assert heatmaps.dtype == pafs.dtype == torch.float32


@pytest.mark.parametrize("stages", [0, 1, 2])
def test_forward_all_lists_every_stage(stages: int) -> None:
    model = LightweightOpenPose(num_refinement_stages=stages).eval()
    x = torch.rand(1, 3, 32, 40) - 0.5
    with torch.no_grad():
        outputs = model.forward_all(x)
        heatmaps, pafs = model(x)
    assert len(outputs) == 2 * (1 + stages)
    assert [o.shape[1] for o in outputs] == [19, 38] * (1 + stages)
    assert torch.equal(outputs[-2], heatmaps)
    assert torch.equal(outputs[-1], pafs)


def test_constructor_is_keyword_only_and_validated() -> None:
    with pytest.raises(TypeError):
        LightweightOpenPose(1)  # type: ignore[misc]
    with pytest.raises(ValueError, match="num_refinement_stages"):
        LightweightOpenPose(num_refinement_stages=-1)


def test_spec_is_valid() -> None:
    spec = ModelSpec.from_dict(SPEC)
    assert spec.name == "lightweight-openpose"
    outputs = spec.head_options  # the PAF head's part of the spec
    assert spec.head == "paf"
    assert (spec.input_layout, outputs.output_layout, spec.color) == ("NCHW", "NCHW", "BGR")
    assert spec.stride == 8
    assert spec.mean == (128.0, 128.0, 128.0)
    assert spec.scale == (1 / 256,) * 3
    assert (outputs.heatmaps.output, outputs.heatmaps.count) == ("heatmaps", 19)
    assert (outputs.pafs.output, outputs.pafs.count) == ("pafs", 38)
    assert OUTPUT_NAMES["lightweight-openpose"] == ("heatmaps", "pafs")  # what forward() gives
    # The original code pads with 0 after normalising: pixel value 128.
    assert spec.pad_value == 128.0
    assert spec.normalise(spec.pad_value) == (0.0, 0.0, 0.0)


# --- equivalence with the original forward pass ----------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 64, 80), (1, 3, 52, 37)])
def test_matches_functional_reference(
    loaded: LightweightOpenPose, release_sd: dict[str, Tensor], shape: tuple[int, ...]
) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) - 0.5  # (px - 128) / 256
    with torch.no_grad():
        actual = loaded.forward_all(x)
        expected = reference_forward(release_sd, x)
    assert len(actual) == len(expected) == 4
    for a, e in zip(actual, expected, strict=True):
        assert a.shape == e.shape
        assert e.abs().max() > 0.1  # the comparison is not between near-zero maps
        torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4)


def test_matches_functional_reference_two_stages(tmp_path: Path) -> None:
    sd = random_state_dict(expected_shapes(2), seed=3)
    model = LightweightOpenPose(num_refinement_stages=2)
    load_checkpoint(model, _save(tmp_path / "two.pth", sd))
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(4)) - 0.5
    with torch.no_grad():
        actual = model.eval().forward_all(x)
        expected = reference_forward(sd, x, num_refinement_stages=2)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, atol=1e-4, rtol=1e-4)


def test_eval_outputs_do_not_depend_on_batch_mates(loaded: LightweightOpenPose) -> None:
    x = torch.rand(3, 3, 48, 56, generator=torch.Generator().manual_seed(2)) - 0.5
    with torch.no_grad():
        together = loaded(x)[0]
        alone = loaded(x[1:2])[0]
    # Only float rounding may differ (kernels can be chosen per batch size): ~1e-6 relative.
    torch.testing.assert_close(together[1:2], alone, atol=1e-4, rtol=1e-4)


# --- checkpoint loading ----------------------------------------------------------------------


def test_loads_release_checkpoint_strictly(
    loaded: LightweightOpenPose, release_sd: dict[str, Tensor]
) -> None:
    assert not loaded.training
    state = loaded.state_dict()
    assert state.keys() == release_sd.keys()
    for key, value in release_sd.items():
        assert torch.equal(state[key], value), key


def test_loads_training_checkpoint_with_extra_entries(
    tmp_path: Path, release_sd: dict[str, Tensor]
) -> None:
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([param], lr=4e-5)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[100, 200])
    path = _save(
        tmp_path / "train.pth",
        {
            "state_dict": release_sd,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "iter": 370000,
            "current_epoch": 3,
        },
    )
    model = LightweightOpenPose()
    load_checkpoint(model, path)
    assert torch.equal(model.state_dict()["model.0.0.weight"], release_sd["model.0.0.weight"])


@pytest.mark.parametrize("wrap", [True, False], ids=["state_dict-key", "bare"])
def test_strips_data_parallel_prefix(
    tmp_path: Path, release_sd: dict[str, Tensor], wrap: bool
) -> None:
    prefixed = {f"module.{k}": v for k, v in release_sd.items()}
    path = _save(tmp_path / "dp.pth", {"state_dict": prefixed} if wrap else prefixed)
    model = LightweightOpenPose()
    load_checkpoint(model, path)
    assert torch.equal(model.state_dict()["cpm.conv.0.bias"], release_sd["cpm.conv.0.bias"])


def test_missing_key_is_a_clear_error(tmp_path: Path, release_sd: dict[str, Tensor]) -> None:
    sd = {k: v for k, v in release_sd.items() if k != "cpm.align.0.bias"}
    path = _save(tmp_path / "missing.pth", {"state_dict": sd})
    with pytest.raises(ValueError, match=r"1 missing key\(s\): cpm\.align\.0\.bias") as info:
        load_checkpoint(LightweightOpenPose(), path)
    assert "unexpected" not in str(info.value)
    assert str(path) in str(info.value)


def test_unexpected_keys_are_a_clear_error(tmp_path: Path, release_sd: dict[str, Tensor]) -> None:
    extra = {f"extra.{i}.weight": torch.zeros(1) for i in range(8)}
    path = _save(tmp_path / "extra.pth", {"state_dict": {**release_sd, **extra}})
    with pytest.raises(ValueError, match=r"8 unexpected key\(s\): extra\.0\.weight") as info:
        load_checkpoint(LightweightOpenPose(), path)
    assert "3 more" in str(info.value)  # only the first few are listed


def test_wrong_shape_is_a_clear_error(tmp_path: Path, release_sd: dict[str, Tensor]) -> None:
    sd = {**release_sd, "initial_stage.heatmaps.1.0.bias": torch.zeros(18)}
    path = _save(tmp_path / "shape.pth", sd)
    with pytest.raises(
        ValueError, match=r"initial_stage\.heatmaps\.1\.0\.bias: \(18,\) != \(19,\)"
    ):
        load_checkpoint(LightweightOpenPose(), path)


def test_two_stage_checkpoint_does_not_fit_default_model(tmp_path: Path) -> None:
    sd = {k: torch.zeros(s) for k, s in expected_shapes(2).items()}
    path = _save(tmp_path / "two.pth", sd)
    with pytest.raises(ValueError, match=r"unexpected key\(s\): refinement_stages\.1\."):
        load_checkpoint(LightweightOpenPose(), path)


def test_not_a_state_dict_is_a_clear_error(tmp_path: Path) -> None:
    path = _save(tmp_path / "list.pth", [1, 2, 3])
    with pytest.raises(ValueError, match="expected a state dict"):
        load_checkpoint(LightweightOpenPose(), path)


def test_arbitrary_pickles_are_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "object.pth", {"state_dict": {}, "obj": Path("x")})
    with pytest.raises(ValueError, match="weights-only"):
        load_checkpoint(LightweightOpenPose(), path)
