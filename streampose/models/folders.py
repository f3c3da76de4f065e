"""Models by name: ``--model NAME`` is ``NAME.onnx`` in the first model folder that has it.

The folders, searched in this order:

1. ``--models-dir DIR`` (the command line);
2. ``$STREAMPOSE_MODELS``, one or more folders separated by :data:`os.pathsep`;
3. ``[model].dir`` (a pipeline file);
4. the user cache, ``cache_dir()/models`` (``~/.cache/streampose/models``, or under
   ``$XDG_CACHE_HOME`` / ``$STREAMPOSE_CACHE``, see :func:`~.download.cache_dir`).

A model is named by its file's stem; its spec is found as for any model file (a sidecar
``NAME.toml``, a built-in spec, the ONNX metadata: :func:`~.resolve.resolve_spec`).
Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from streampose.errors import ModelError
from streampose.models.download import cache_dir

__all__ = ["MODELS_ENV", "SUFFIX", "ModelFolder", "find_model", "installed_models",
           "is_model_name", "model_folders"]

MODELS_ENV = "STREAMPOSE_MODELS"
SUFFIX = ".onnx"


@dataclass(frozen=True)
class ModelFolder:
    """A folder searched for models, and where it was named (``--models-dir``, ...)."""

    path: Path
    origin: str

    def __str__(self) -> str:
        return f"{self.origin} {self.path}"


def is_model_name(text: str) -> bool:
    """Whether ``--model text`` names a model rather than a file: no folder separator, no
    ``.onnx`` suffix, and no such file."""
    separators = {"/", os.sep, os.altsep or "/"}
    if not text or any(s in text for s in separators) or text.lower().endswith(SUFFIX):
        return False
    return not Path(text).is_file()


def model_folders(*, option: Path | None = None, configured: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> tuple[ModelFolder, ...]:
    """The folders searched for a model name, in order (see the module doc); ``option``:
    ``--models-dir``, ``configured``: ``[model].dir``."""
    env = os.environ if environ is None else environ
    folders = [] if option is None else [ModelFolder(Path(option).expanduser(), "--models-dir")]
    folders += [ModelFolder(Path(p).expanduser(), f"${MODELS_ENV}")
                for p in env.get(MODELS_ENV, "").split(os.pathsep) if p]
    if configured is not None:
        folders.append(ModelFolder(Path(configured).expanduser(), "[model].dir"))
    folders.append(ModelFolder(cache_dir() / "models", "user cache"))
    return tuple(folders)


def installed_models(folders: tuple[ModelFolder, ...]) -> dict[str, Path]:
    """``{name: file}`` of every model in ``folders``, by name; the first folder that
    has a name wins, and names are sorted."""
    found: dict[str, Path] = {}
    for folder in folders:
        for path in _models_in(folder.path):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_model(name: str, folders: tuple[ModelFolder, ...]) -> Path:
    """``NAME.onnx`` from the first folder that has it; otherwise one ModelError line
    naming the models found and the folders searched."""
    for folder in folders:
        path = folder.path / f"{name}{SUFFIX}"
        if path.is_file():
            return path
    found = ", ".join(installed_models(folders)) or "none"
    searched = "; ".join(map(str, folders))
    raise ModelError(f"model {name!r} not found (models found: {found}; folders searched: "
                     f"{searched}); put {name}{SUFFIX} in one of them or give its path")


def _models_in(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:  # missing or unreadable: nothing there
        return []
    return [p for p in entries if p.suffix.lower() == SUFFIX and p.is_file()]
