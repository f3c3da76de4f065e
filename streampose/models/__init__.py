"""Models: declarative specs, networks built in code, known models and their weights.

``build_model(name, weights=PATH)`` returns a PyTorch ``nn.Module`` for a network built in
code (torch is imported only here, only when asked for).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streampose.errors import ModelError

ARCHITECTURES = ("lightweight-openpose",)
OUTPUT_NAMES = {"lightweight-openpose": ("heatmaps", "pafs")}  # a forward pass returns these


def build_model(name: str, *, weights: str | Path | None = None) -> Any:
    """``nn.Module`` of architecture ``name`` in eval mode; ``weights``: a checkpoint file."""
    if name == "lightweight-openpose":
        from streampose.models.lightweight_openpose import build_lightweight_openpose

        return build_lightweight_openpose(weights=weights)
    raise ModelError(f"unknown architecture {name!r}; built in: {', '.join(ARCHITECTURES)}")


def architecture_spec(name: str) -> dict[str, Any]:
    """The model spec (a dict for ModelSpec.from_dict) of a built-in architecture; needs
    no torch, so a pipeline can be checked before any stage imports it."""
    if name not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {name!r}; built in: {', '.join(ARCHITECTURES)}")
    from streampose.models.registry import known_model

    spec = known_model(name).spec
    if isinstance(spec, str):
        raise ModelError(f"{name}: its spec is the built-in {spec!r}, not a table")
    return dict(spec)
