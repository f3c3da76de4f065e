"""Lightweight OpenPose (Osokin 2018, "Real-time 2D Multi-Person Pose Estimation on CPU").

A MobileNet-v1 backbone (output stride 8, last blocks dilated), a "CPM" feature adapter, an
initial stage and refinement stage(s), each predicting 19 keypoint heatmaps (18 COCO
keypoints + background) and 38 part affinity fields (19 limbs x (x, y), OpenPose COCO order).

Module names follow the authors' released code so that their checkpoint
(``checkpoint_iter_370000.pth``) loads unchanged with ``strict=True``:

    model.*                 backbone, nn.Sequential (index 0: conv; 1..11: depthwise blocks)
    cpm.{align,trunk,conv}  feature adapter 512 -> 128 channels
    initial_stage.{trunk,heatmaps,pafs}
    refinement_stages.N.{trunk.I.{initial,trunk},heatmaps,pafs}

Input: NCHW float32, BGR, normalised as ``(pixel - 128) / 256`` (see :data:`SPEC`).
This module needs torch; nothing else in the package imports it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from streampose.models.registry import LIGHTWEIGHT_OPENPOSE_SPEC

__all__ = ["SPEC", "LightweightOpenPose", "build_lightweight_openpose", "load_checkpoint"]

BACKBONE_CHANNELS = 512
_DATA_PARALLEL_PREFIX = "module."
_SHOWN_KEYS = 5

# (in, out, stride, dilation) of backbone blocks 1..11 (index 0 is the plain 3 -> 32 conv).
_BACKBONE_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
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
)

# How to feed the network. ``pad_value`` is in pixel units: the authors' demo/validation code
# pads with 0 *after* normalising, i.e. with pixel value 128.
# The spec lives in the registry (importable without torch); the same mapping, as a dict.
SPEC: dict[str, Any] = dict(LIGHTWEIGHT_OPENPOSE_SPEC)


# --- building blocks (Sequential layouts fix the checkpoint's key names) ---------------------


def _conv(
    cin: int,
    cout: int,
    kernel: int = 3,
    *,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Conv2d:
    """A 'same'-padded convolution (odd kernel)."""
    padding = dilation * (kernel - 1) // 2
    return nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups=groups, bias=bias)


def _conv_bn_relu(cin: int, cout: int, *, stride: int = 1) -> nn.Sequential:
    """Backbone stem: conv (no bias), BatchNorm, ReLU."""
    return nn.Sequential(
        _conv(cin, cout, stride=stride, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _depthwise_separable(cin: int, cout: int, *, stride: int, dilation: int) -> nn.Sequential:
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU (MobileNet-v1 block)."""
    return nn.Sequential(
        _conv(cin, cin, stride=stride, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        _conv(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _depthwise_separable_elu(channels: int) -> nn.Sequential:
    """CPM trunk block: depthwise 3x3 + ELU, pointwise 1x1 + ELU, no BN, no biases."""
    return nn.Sequential(
        _conv(channels, channels, groups=channels, bias=False),
        nn.ELU(inplace=True),
        _conv(channels, channels, 1, bias=False),
        nn.ELU(inplace=True),
    )


def _conv_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cout, kernel), nn.ReLU(inplace=True))


def _conv_bn_relu_biased(cin: int, cout: int, *, dilation: int = 1) -> nn.Sequential:
    """Refinement trunk conv: 3x3 with bias, BatchNorm, ReLU."""
    return nn.Sequential(
        _conv(cin, cout, dilation=dilation), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _head(cin: int, hidden: int, cout: int) -> nn.Sequential:
    """1x1 conv + ReLU, then a linear 1x1 conv (keys ``0.0.*`` and ``1.0.*``)."""
    return nn.Sequential(_conv_relu(cin, hidden, 1), nn.Sequential(_conv(hidden, cout, 1)))


def _backbone() -> nn.Sequential:
    blocks = [
        _depthwise_separable(cin, cout, stride=stride, dilation=dilation)
        for cin, cout, stride, dilation in _BACKBONE_BLOCKS
    ]
    return nn.Sequential(_conv_bn_relu(3, 32, stride=2), *blocks)


# --- network parts ---------------------------------------------------------------------------


class Cpm(nn.Module):
    """Adapts the 512 backbone channels to ``channels``: align, residual trunk, 3x3 conv."""

    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.align = _conv_relu(cin, channels, 1)
        self.trunk = nn.Sequential(*(_depthwise_separable_elu(channels) for _ in range(3)))
        self.conv = _conv_relu(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        aligned = self.align(x)
        out: Tensor = self.conv(aligned + self.trunk(aligned))
        return out


class InitialStage(nn.Module):
    """Three 3x3 convs, then the heatmap and PAF heads."""

    def __init__(self, channels: int, num_heatmaps: int, num_pafs: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*(_conv_relu(channels, channels) for _ in range(3)))
        self.heatmaps = _head(channels, 512, num_heatmaps)
        self.pafs = _head(channels, 512, num_pafs)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class RefinementStageBlock(nn.Module):
    """1x1 projection, plus a residual branch of a plain and a dilated 3x3 conv."""

    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.initial = _conv_relu(cin, channels, 1)
        self.trunk = nn.Sequential(
            _conv_bn_relu_biased(channels, channels),
            _conv_bn_relu_biased(channels, channels, dilation=2),
        )

    def forward(self, x: Tensor) -> Tensor:
        projected: Tensor = self.initial(x)
        refined: Tensor = self.trunk(projected)
        return projected + refined


class RefinementStage(nn.Module):
    """Five residual blocks, then the heatmap and PAF heads."""

    def __init__(self, cin: int, channels: int, num_heatmaps: int, num_pafs: int) -> None:
        super().__init__()
        blocks = [RefinementStageBlock(cin if i == 0 else channels, channels) for i in range(5)]
        self.trunk = nn.Sequential(*blocks)
        self.heatmaps = _head(channels, channels, num_heatmaps)
        self.pafs = _head(channels, channels, num_pafs)

    def forward(self, x: Tensor) -> list[Tensor]:
        features = self.trunk(x)
        return [self.heatmaps(features), self.pafs(features)]


class LightweightOpenPose(nn.Module):
    """The full network; outputs are at 1/8 of the input resolution (ceil for odd sizes)."""

    def __init__(
        self,
        *,
        num_refinement_stages: int = 1,
        num_channels: int = 128,
        num_heatmaps: int = 19,
        num_pafs: int = 38,
    ) -> None:
        super().__init__()
        if num_refinement_stages < 0:
            raise ValueError(f"num_refinement_stages must be >= 0, got {num_refinement_stages}")
        self.model = _backbone()
        self.cpm = Cpm(BACKBONE_CHANNELS, num_channels)
        self.initial_stage = InitialStage(num_channels, num_heatmaps, num_pafs)
        stage_in = num_channels + num_heatmaps + num_pafs
        self.refinement_stages = nn.ModuleList(
            RefinementStage(stage_in, num_channels, num_heatmaps, num_pafs)
            for _ in range(num_refinement_stages)
        )

    def forward_all(self, x: Tensor) -> list[Tensor]:
        """Every stage's outputs in order: ``[heatmaps0, pafs0, heatmaps1, pafs1, ...]``."""
        features = self.cpm(self.model(x))
        outputs: list[Tensor] = self.initial_stage(features)
        for stage in self.refinement_stages:
            outputs.extend(stage(torch.cat([features, outputs[-2], outputs[-1]], dim=1)))
        return outputs

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(heatmaps, pafs)`` of the final stage, NCHW."""
        outputs = self.forward_all(x)
        return outputs[-2], outputs[-1]


# --- checkpoints -----------------------------------------------------------------------------


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # pragma: no cover - torch < 1.13 has no weights_only
        return torch.load(path, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: not loadable as a weights-only checkpoint (it holds arbitrary Python "
            f"objects, which are not unpickled for safety): {str(exc).splitlines()[0]}"
        ) from exc


def _state_dict_of(checkpoint: object, path: Path) -> dict[str, Tensor]:
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f"{path}: expected a state dict or {{'state_dict': ...}}, "
            f"got {type(checkpoint).__name__}"
        )
    return {
        (key.removeprefix(_DATA_PARALLEL_PREFIX) if isinstance(key, str) else key): value
        for key, value in checkpoint.items()
    }


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    more = len(keys) - _SHOWN_KEYS
    return shown + (f", ... ({more} more)" if more > 0 else "")


def _mismatches(model: nn.Module, state: Mapping[str, Any]) -> list[str]:
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [str(key) for key in state if key not in expected]
    wrong = [
        f"{key}: {tuple(getattr(value, 'shape', ()))} != {tuple(expected[key].shape)}"
        for key, value in state.items()
        if key in expected and (not isinstance(value, Tensor) or value.shape != expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_first(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_first(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatch(es): {_first(wrong)}")
    return problems


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load weights from ``path`` into ``model`` (strict).

    Accepts ``{"state_dict": ...}`` (the authors' training checkpoints) or a bare state dict;
    a ``module.`` prefix (nn.DataParallel) is stripped. Raises ValueError listing the first
    missing / unexpected / wrongly shaped keys when the file does not fit the model.
    """
    path = Path(path)
    state = _state_dict_of(_torch_load(path), path)
    problems = _mismatches(model, state)
    if problems:
        raise ValueError(f"{path}: checkpoint does not fit the model: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def build_lightweight_openpose(*, weights: str | Path | None = None) -> LightweightOpenPose:
    """The default network (1 refinement stage) in eval mode; random init without ``weights``."""
    model = LightweightOpenPose()
    if weights is not None:
        load_checkpoint(model, weights)
    return model.eval()
