"""From ``--model`` (a file or a built-in network name) to a spec and the file to load."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from streampose.errors import ModelError
from streampose.models import ARCHITECTURES, architecture_spec
from streampose.models.folders import ModelFolder, find_model, is_model_name
from streampose.models.onnx_meta import spec_from_onnx_metadata
from streampose.models.spec import ModelSpec, builtin_specs

__all__ = ["ResolvedModel", "resolve_model", "resolve_network_weights", "resolve_spec"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedModel:
    """The model's spec and what the backend loads (an ONNX file, a checkpoint or None)."""

    spec: ModelSpec
    path: Path | None
    built_in: bool


def resolve_model(model: Path, *, spec: Path | None = None, weights: str | None = None,
                  must_exist: bool = True,
                  folders: tuple[ModelFolder, ...] | None = None) -> ResolvedModel:
    """A built-in network (with its checkpoint), a model file (with its spec), or a model
    name (``NAME.onnx`` in one of ``folders``, :mod:`streampose.models.folders`).

    ``must_exist`` False lets a backend that loads nothing (``fake``) take any name.
    """
    name = str(model)
    if name in ARCHITECTURES:
        path = resolve_network_weights(name, weights)
        if spec is not None:
            return ResolvedModel(ModelSpec.from_toml(spec), path, True)
        return ResolvedModel(ModelSpec.from_dict(architecture_spec(name), source=name), path,
                             True)
    if folders is not None and is_model_name(name):
        model = _by_name(Path(model), folders, must_exist=must_exist)
    if must_exist and not model.is_file():
        raise ModelError(f"model {model}: no such file")
    return ResolvedModel(resolve_spec(model, spec), model, False)


def _by_name(model: Path, folders: tuple[ModelFolder, ...], *, must_exist: bool) -> Path:
    """The file of model name ``model``; the name itself when no folder has it and it
    need not exist."""
    try:
        path = find_model(str(model), folders)
    except ModelError:
        if must_exist:
            raise
        return model
    log.debug("model %s: %s", model, path)
    return path


def resolve_network_weights(name: str, weights: str | None) -> Path | None:
    """Checkpoint of a built-in network: a file, ``random`` (untrained), or the registry's."""
    if weights == "random":
        log.warning("%s: untrained random weights (for plumbing and benchmarks only)", name)
        return None
    from streampose.models.registry import resolve_weights

    return resolve_weights(name, weights=weights)


def resolve_spec(model_path: Path, spec_path: Path | None = None) -> ModelSpec:
    """Find the spec of ``model_path``.

    In order: the explicit ``spec_path``; a sidecar ``<model stem>.toml`` next to the model;
    a built-in spec whose ``name`` equals the model file's stem; the model's own ONNX
    metadata when it describes a pose model (YOLO-pose exports,
    :mod:`streampose.models.onnx_meta`). Otherwise ModelError.
    """
    model_path = Path(model_path)
    if spec_path is not None:
        return _chosen(ModelSpec.from_toml(spec_path), "explicit", model_path)
    sidecar = model_path.with_suffix(".toml")
    if sidecar.is_file():
        return _chosen(ModelSpec.from_toml(sidecar), "sidecar", model_path)
    builtin = builtin_specs().get(model_path.stem)
    if builtin is not None:
        return _chosen(builtin, "built-in", model_path)
    from_metadata = _from_metadata(model_path)
    if from_metadata is not None:
        return _chosen(from_metadata, "metadata", model_path)
    raise ModelError(
        f"no model spec for {model_path}: no sidecar {sidecar.name}, no built-in spec "
        f"named {model_path.stem!r} and no pose-model metadata in the file; pass "
        f"--model-spec PATH.toml "
        f"(built-in specs: {', '.join(sorted(builtin_specs())) or 'none'})"
    )


def _from_metadata(model_path: Path) -> ModelSpec | None:
    if model_path.suffix.lower() != ".onnx" or not model_path.is_file():
        return None
    return spec_from_onnx_metadata(model_path)


def _chosen(spec: ModelSpec, how: str, model_path: Path) -> ModelSpec:
    log.debug("model %s: using %s spec %r from %s", model_path, how, spec.name, spec.source)
    return spec
