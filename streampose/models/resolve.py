"""From ``--model`` (a file or a built-in network name) to a spec and the file to load."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from streampose.errors import ModelError
from streampose.models import ARCHITECTURES, architecture_spec
from streampose.models.spec import ModelSpec, resolve_spec

__all__ = ["ResolvedModel", "resolve_model", "resolve_network_weights"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    """The model's spec and what the backend loads (an ONNX file, a checkpoint or None)."""

    spec: ModelSpec
    path: Path | None
    built_in: bool


def resolve_model(model: Path, *, spec: Path | None = None, weights: str | None = None,
                  must_exist: bool = True) -> ResolvedModel:
    """A built-in network (with its checkpoint) or a model file (with its spec).

    ``must_exist`` False lets a backend that loads nothing (``fake``) take any name.
    """
    name = str(model)
    if name in ARCHITECTURES:
        path = resolve_network_weights(name, weights)
        if spec is not None:
            return ResolvedModel(ModelSpec.from_toml(spec), path, True)
        return ResolvedModel(ModelSpec.from_dict(architecture_spec(name), source=name), path,
                             True)
    if must_exist and not model.is_file():
        raise ModelError(f"model {model}: no such file")
    return ResolvedModel(resolve_spec(model, spec), model, False)


def resolve_network_weights(name: str, weights: str | None) -> Path | None:
    """Checkpoint of a built-in network: a file, ``random`` (untrained), or the registry's."""
    if weights == "random":
        log.warning("%s: untrained random weights (for plumbing and benchmarks only)", name)
        return None
    from streampose.models.registry import resolve_weights

    return resolve_weights(name, weights=weights)
