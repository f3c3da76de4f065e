"""``streampose export``: a built-in torch network to ONNX, checked against torch.

The file gets dynamic batch, height and width, and a sidecar spec (``OUT.toml``) so
``streampose run ... --model OUT.onnx`` works with ONNX Runtime (or TensorRT) at once.
The export is checked by running ONNX Runtime and torch on the same random batch.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from streampose.errors import ModelError, OutputError
from streampose.models import architecture_spec, build_model

log = logging.getLogger(__name__)

TOLERANCE = 1e-4


def export_onnx(name: str, *, weights: str | Path | None, out: Path, height: int = 368,
                width: int = 656, opset: int = 17) -> float:
    """Export ``name`` to ``out`` (+ ``out.toml``); returns the max |ORT - torch| difference."""
    import torch

    model = build_model(name, weights=weights).float().eval()
    tmp = out.with_name(out.name + ".part")
    dims = {0: "batch", 2: "height", 3: "width"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, (torch.zeros(1, 3, height, width),), str(tmp),
                              input_names=["input"], output_names=["heatmaps", "pafs"],
                              dynamic_axes={"input": dims, "heatmaps": dims, "pafs": dims},
                              opset_version=opset, dynamo=False)
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"ONNX output {out}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    out.with_suffix(".toml").write_text(spec_toml(architecture_spec(name), out.stem))
    return check_onnx(model, out, height=height, width=width)


def check_onnx(model: Any, path: Path, *, height: int, width: int) -> float:
    """Max abs difference of ONNX Runtime vs torch on a random batch of 2; ModelError if
    it exceeds TOLERANCE."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    batch = rng.uniform(-0.5, 0.5, (2, 3, height, width)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["heatmaps", "pafs"], {"input": batch})
    with torch.inference_mode():
        want = [t.numpy() for t in model(torch.from_numpy(batch))]
    diff = max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))
    if diff > TOLERANCE:
        raise ModelError(f"{path}: ONNX Runtime differs from torch by {diff:.2e} "
                         f"(more than {TOLERANCE:g})")
    return diff


def spec_toml(spec: dict[str, Any], name: str) -> str:
    """A model spec file for the exported network (same fields as the built-in spec)."""
    lines = ["# written by `streampose export`", f'name = "{name}"']
    tables = []
    for key, value in spec.items():
        if key == "name":
            continue
        if isinstance(value, dict):
            tables.append(f"\n[{key}]\n" + "\n".join(f"{k} = {_toml(v)}"
                                                     for k, v in value.items()))
        else:
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n" + "".join(tables) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(float(value)) if isinstance(value, float) else str(value)
