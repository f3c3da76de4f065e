"""Known models by name, and where their weights come from.

:func:`resolve_weights` finds a model's weights file, in this order:

1. an explicit path (the ``--weights`` flag);
2. the environment variable ``STREAMPOSE_WEIGHTS_<NAME>`` (name upper-cased, every
   character other than a letter or digit replaced by ``_``, e.g.
   ``STREAMPOSE_WEIGHTS_LIGHTWEIGHT_OPENPOSE``);
3. the cache, ``cache_dir()/<name>/<filename>`` (checked against the known SHA-256 when
   there is one; a corrupt file is downloaded again);
4. a download into the cache, when allowed.

When none works, one :class:`~streampose.errors.ModelError` says which file to fetch, from
where, where to put it, and the flag / variable that point elsewhere.

This module imports no deep-learning framework: it only names files and URLs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from streampose.errors import ModelError
from streampose.models.download import Progress, cache_dir, download, sha256_of
from streampose.models.spec import ModelSpec, builtin_specs

__all__ = [
    "KNOWN_MODELS",
    "LIGHTWEIGHT_OPENPOSE_SPEC",
    "LIGHTWEIGHT_OPENPOSE_URL",
    "KnownModel",
    "cached_path",
    "known_model",
    "resolve_weights",
    "weights_env_var",
]

log = logging.getLogger(__name__)

WEIGHTS_ENV_PREFIX = "STREAMPOSE_WEIGHTS_"

# The download address the original Lightweight OpenPose project
# (github.com/Daniil-Osokin/lightweight-human-pose-estimation.pytorch, README section
# "Pre-trained model") documents for its COCO checkpoint. Whether it still serves the file
# could not be verified from here (no network access). The project publishes no SHA-256,
# so none is pinned: the download is then checked only against its Content-Length.
LIGHTWEIGHT_OPENPOSE_URL = (
    "https://download.01.org/opencv/openvino_training_extensions/models/"
    "human_pose_estimation/checkpoint_iter_370000.pth"
)

# How to feed the PyTorch Lightweight OpenPose network (MobileNet v1 + 1 refinement stage):
# planar BGR normalised as (pixel - 128) / 256. The authors' demo and validation code pad
# the letterbox with 0 *after* normalising, i.e. pixel value 128 here. Input and outputs
# are named as in the ONNX export ("input"; "heatmaps", "pafs"): the last stage's 19
# heatmaps (18 COCO keypoints + background) and 38 PAF channels (19 limbs x (x, y)).
LIGHTWEIGHT_OPENPOSE_SPEC: Mapping[str, Any] = MappingProxyType(
    {
        "name": "lightweight-openpose",
        "skeleton": "coco18",
        "input_name": "input",
        "input_layout": "NCHW",
        "output_layout": "NCHW",
        "color": "BGR",
        "mean": [128.0, 128.0, 128.0],
        "scale": [1 / 256, 1 / 256, 1 / 256],
        "stride": 8,
        "pad_value": 128.0,
        "heatmaps": {"output": "heatmaps", "channels": [0, 19]},
        "pafs": {"output": "pafs", "channels": [0, 38]},
    }
)


@dataclass(frozen=True)
class KnownModel:
    """A model streampose knows how to fetch and run.

    ``spec`` is a built-in spec name or a spec table (see :mod:`streampose.models.spec`).
    ``architecture`` names a network built in code whose weights the file holds
    (``"lightweight-openpose"``); None for a self-contained file such as ONNX.
    ``sha256`` is None when no trustworthy digest is known (the file is then not verified).
    """

    name: str
    url: str
    sha256: str | None
    filename: str
    spec: str | Mapping[str, Any]
    architecture: str | None
    description: str

    def model_spec(self) -> ModelSpec:
        """The validated spec: the built-in one named ``spec``, or ``spec`` as a table."""
        if not isinstance(self.spec, str):
            return ModelSpec.from_dict(self.spec, source=f"spec of known model {self.name!r}")
        builtin = builtin_specs()
        if self.spec not in builtin:
            known = ", ".join(sorted(builtin)) or "none"
            raise ModelError(
                f"known model {self.name!r} names built-in spec {self.spec!r}, which does not "
                f"exist (built-in specs: {known})"
            )
        return builtin[self.spec]


KNOWN_MODELS: dict[str, KnownModel] = {
    "lightweight-openpose": KnownModel(
        name="lightweight-openpose",
        url=LIGHTWEIGHT_OPENPOSE_URL,
        sha256=None,
        filename="checkpoint_iter_370000.pth",
        spec=LIGHTWEIGHT_OPENPOSE_SPEC,
        architecture="lightweight-openpose",
        description=(
            "Lightweight OpenPose (Osokin 2018): MobileNet v1 + 1 refinement stage, COCO-18, "
            "the authors' PyTorch checkpoint (needs torch)"
        ),
    ),
}


def known_model(name: str) -> KnownModel:
    """The known model called ``name``; ModelError listing the known names otherwise."""
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(KNOWN_MODELS)) or "none"
        raise ModelError(f"unknown model {name!r} (known models: {known})") from None


def weights_env_var(name: str) -> str:
    """The environment variable that overrides ``name``'s weights path."""
    return WEIGHTS_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def cached_path(name: str) -> Path:
    """Where the cache keeps ``name``'s weights file (whether or not it is there)."""
    model = known_model(name)
    return cache_dir() / model.name / model.filename


def resolve_weights(
    name: str,
    *,
    weights: str | Path | None = None,
    allow_download: bool = True,
    progress: Progress | None = None,
) -> Path:
    """The weights file of known model ``name`` (see the module doc for the search order)."""
    model = known_model(name)
    if weights is not None:
        return _existing(Path(weights).expanduser(), what="weights file")
    variable = weights_env_var(name)
    from_env = os.environ.get(variable)
    if from_env:
        return _existing(Path(from_env).expanduser(), what=f"weights file from ${variable}")
    return _cached_or_downloaded(model, allow_download=allow_download, progress=progress)


def _existing(path: Path, *, what: str) -> Path:
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise ModelError(f"{what} {path} {problem}")
    log.debug("using %s %s", what, path)
    return path


def _cached_or_downloaded(
    model: KnownModel, *, allow_download: bool, progress: Progress | None
) -> Path:
    path = cached_path(model.name)
    problem = _cache_problem(model, path)
    if problem is None:
        log.debug("model %s: using cached weights %s", model.name, path)
        return path
    if not allow_download:
        raise _unavailable(model, path, f"{problem}; downloads are disabled")
    try:
        return download(model.url, path, sha256=model.sha256, progress=progress)
    except ModelError as exc:
        why = str(exc).removeprefix(f"cannot download {model.url}: ")
        raise _unavailable(model, path, f"{problem}; download failed: {why}") from exc


def _cache_problem(model: KnownModel, path: Path) -> str | None:
    """Why the cached file cannot be used (None: it can)."""
    if not path.is_file():
        return "not in the cache"
    if model.sha256 is None:
        return None
    try:
        actual = sha256_of(path)
    except OSError as exc:
        return f"the cached copy cannot be read ({exc.strerror or exc})"
    if actual == model.sha256.lower():
        return None
    log.warning(
        "model %s: cached %s has sha256 %s, expected %s; downloading it again",
        model.name,
        path,
        actual,
        model.sha256,
    )
    return "the cached copy is corrupt (checksum mismatch)"


def _unavailable(model: KnownModel, path: Path, reason: str) -> ModelError:
    return ModelError(
        f"weights for model {model.name!r} are not available ({reason}). "
        f"Download {model.filename} from {model.url} and save it as {path}, "
        f"or pass --weights PATH, or set {weights_env_var(model.name)}=PATH"
    )
