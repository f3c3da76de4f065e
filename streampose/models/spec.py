"""Declarative model specs: how to feed a network and which head reads its outputs.

A model is a file plus a small TOML spec. The generic part says how to feed the network;
``head`` names the head that reads its outputs (:mod:`streampose.heads`), and every other
key belongs to that head. An OpenPose-style PAF network:

    name = "openpose-mnv2s-coco18"
    skeleton = "coco18"
    head = "paf"                   # the default; "keypoints" for one-stage networks
    input_name = "image:0"
    input_layout = "NHWC"          # or "NCHW"
    color = "BGR"                  # channel order the network expects
    mean = [0.0, 0.0, 0.0]         # normalised = (pixel - mean) * scale, per network channel
    scale = [1.0, 1.0, 1.0]
    stride = 8                     # input H and W are multiples of this
    pad_value = 0.0                # letterbox padding, in pixel units (before normalisation)
    centred = false                # letterbox: image centred (true) or top-left (false)
    fit = "height"                 # what input_height sets: the input "height", or the
                                   # image's "long_side" (like Ultralytics' imgsz)
    input_height = 368             # the default network input height (--height)
    max_batch = 0                  # most images per run; 0 = any (see below)

    output_layout = "NHWC"         # paf head: layout of the map outputs
    [heatmaps]                     # paf head: K keypoint channels + 1 background channel
    output = "Openpose/concat_stage7:0"
    channels = [0, 19]             # [start, stop), like a Python slice

    [pafs]                         # 2 channels (x, y) per limb
    output = "Openpose/concat_stage7:0"
    channels = [19, 57]

``max_batch = 1`` is for networks whose outputs for one image depend on the other images
of the same run (e.g. BatchNormalization exported with batch statistics): backends then
run larger batches one chunk at a time, so a batch always gives the per-image results.

``mean`` and ``scale`` are given in the network's channel order (the ``color`` order).
Unknown keys are rejected. Every problem raises :class:`~streampose.errors.ModelError`
naming the file, the field, the value and what is allowed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from streampose.errors import ModelError

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as _toml
    except ModuleNotFoundError:
        _toml = None

__all__ = ["LAYOUTS", "ModelSpec", "OutputRef", "builtin_specs", "check_keys", "choice",
           "fail"]

log = logging.getLogger(__name__)

LAYOUTS = ("NCHW", "NHWC")
COLORS = ("BGR", "RGB")
_SPEC_PACKAGE = "streampose.models"
_SPEC_DIR = "specs"
_REQUIRED = ("name", "skeleton", "input_name", "input_layout", "color", "stride")
_DEFAULTS: dict[str, Any] = {
    "head": "paf",
    "mean": (0.0, 0.0, 0.0),
    "scale": (1.0, 1.0, 1.0),
    "pad_value": 0.0,
    "centred": False,
    "fit": "height",
    "input_height": 368,
    "max_batch": 0,
}
_GENERIC = (*_REQUIRED, *_DEFAULTS)  # every other key belongs to the head
_OUTPUT_KEYS = ("output", "channels")


def fail(source: str, field: str, value: object, allowed: str) -> ModelError:
    """The ModelError for one bad spec field (heads use it for their own fields too)."""
    return ModelError(f"{source}: invalid {field} = {value!r} (allowed: {allowed})")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_keys(d: Mapping[str, Any], allowed: tuple[str, ...], source: str, prefix: str) -> None:
    """ModelError for a key of ``d`` not in ``allowed``. A head checking its top-level keys
    (``prefix`` ""): the generic keys are listed as known too."""
    for key in d:
        if key not in allowed:
            known = ", ".join(dict.fromkeys(allowed if prefix else (*_GENERIC, *allowed)))
            raise ModelError(f"{source}: unknown key '{prefix}{key}' (known keys: {known})")


def _string(d: Mapping[str, Any], field: str, source: str) -> str:
    value = d[field]
    if not isinstance(value, str) or not value.strip():
        raise fail(source, field, value, "a non-empty string")
    return value


def choice(d: Mapping[str, Any], field: str, choices: tuple[str, ...], source: str) -> str:
    value = d[field]
    if value not in choices:
        raise fail(source, field, value, " | ".join(choices))
    return str(value)


def _vector3(d: Mapping[str, Any], field: str, source: str) -> tuple[float, float, float]:
    value = d[field]
    if not isinstance(value, list | tuple) or len(value) != 3 or not all(map(_is_number, value)):
        raise fail(source, field, value, "a list of 3 numbers")
    return (float(value[0]), float(value[1]), float(value[2]))


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A channel range ``[start, stop)`` of one named model output."""

    output: str
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start

    @classmethod
    def from_dict(cls, d: object, *, field: str, source: str) -> OutputRef:
        if not isinstance(d, Mapping):
            raise fail(source, field, d, 'a table {output = "name", channels = [start, stop]}')
        check_keys(d, _OUTPUT_KEYS, source, f"{field}.")
        for key in _OUTPUT_KEYS:
            if key not in d:
                raise ModelError(f"{source}: missing key '{field}.{key}'")
        output = d["output"]
        if not isinstance(output, str) or not output:
            raise fail(source, f"{field}.output", output, "a non-empty output name")
        start, stop = _channel_range(d["channels"], f"{field}.channels", source)
        return cls(output=output, start=start, stop=stop)


def _channel_range(value: object, field: str, source: str) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        start, stop = value
        if _is_int(start) and _is_int(stop) and 0 <= start < stop:
            return int(start), int(stop)
    raise fail(source, field, value, "[start, stop] integers with 0 <= start < stop")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How to feed one network, and its head's part of the spec (see module doc)."""

    name: str
    skeleton: str
    input_name: str
    input_layout: str
    color: str
    stride: int
    head: str = "paf"
    head_options: Any = None  # what the head's parse_options() made of its keys
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad_value: float = 0.0
    centred: bool = False
    fit: str = "height"  # input_height is the input height, or the image's long side
    input_height: int = 368
    max_batch: int = 0  # 0: any batch size
    source: str = field(default="<dict>", compare=False)

    @property
    def is_identity_normalisation(self) -> bool:
        return self.mean == (0.0, 0.0, 0.0) and self.scale == (1.0, 1.0, 1.0)

    def input_shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        """The input tensor shape for ``batch`` images of ``height`` x ``width`` pixels."""
        if self.input_layout == "NHWC":
            return (batch, height, width, 3)
        return (batch, 3, height, width)

    def normalise(self, pixel: float) -> tuple[float, float, float]:
        """A pixel value (same on all channels) after normalisation, per network channel."""
        (m0, m1, m2), (s0, s1, s2) = self.mean, self.scale
        return ((pixel - m0) * s0, (pixel - m1) * s1, (pixel - m2) * s2)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "<dict>") -> ModelSpec:
        """Build and validate a spec from a parsed TOML table; ``source`` names it in errors."""
        if not isinstance(d, Mapping):
            raise ModelError(f"{source}: a model spec must be a table, got {type(d).__name__}")
        return cls._validated({**_DEFAULTS, **d}, source)

    @classmethod
    def _validated(cls, d: Mapping[str, Any], source: str) -> ModelSpec:
        from streampose.heads import head_class  # NumPy: when a spec is read, not imported
        from streampose.pose.letterbox import FITS

        head = head_class(_string(d, "head", source), source=source)
        # The head rejects unknown keys before a required key is reported missing: a typo
        # ("strid") is named as such, not as the key it was meant to be.
        options = head.parse_options({k: v for k, v in d.items() if k not in _GENERIC},
                                     source=source)
        missing = [key for key in _REQUIRED if key not in d]
        if missing:
            raise ModelError(f"{source}: missing key(s) {', '.join(map(repr, missing))}")
        return cls(
            name=_string(d, "name", source),
            skeleton=_string(d, "skeleton", source),
            input_name=_string(d, "input_name", source),
            input_layout=choice(d, "input_layout", LAYOUTS, source),
            color=choice(d, "color", COLORS, source),
            stride=_stride(d["stride"], source),
            head=head.name,
            head_options=options,
            mean=_vector3(d, "mean", source),
            scale=_vector3(d, "scale", source),
            pad_value=_number(d, "pad_value", source),
            centred=_bool(d, "centred", source),
            fit=choice(d, "fit", FITS, source),
            input_height=_positive_int(d, "input_height", source),
            max_batch=_max_batch(d["max_batch"], source),
            source=source,
        )

    @classmethod
    def from_toml(cls, path: Path | str) -> ModelSpec:
        """Load and validate a spec file."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model spec {path}: {exc.strerror or exc}") from exc
        return cls.from_dict(_parse_toml(data, str(path)), source=str(path))


def _stride(value: object, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise fail(source, "stride", value, "an integer > 0")
    return value


def _max_batch(value: object, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise fail(source, "max_batch", value, "an integer >= 0 (0: any batch size)")
    return value


def _number(d: Mapping[str, Any], field: str, source: str) -> float:
    if not _is_number(d[field]):
        raise fail(source, field, d[field], "a number")
    return float(d[field])


def _bool(d: Mapping[str, Any], field: str, source: str) -> bool:
    if not isinstance(d[field], bool):
        raise fail(source, field, d[field], "true or false")
    return bool(d[field])


def _positive_int(d: Mapping[str, Any], field: str, source: str) -> int:
    value = d[field]
    if not _is_int(value) or value <= 0:
        raise fail(source, field, value, "an integer > 0")
    return int(value)


def _parse_toml(data: bytes, source: str) -> dict[str, Any]:
    if _toml is None:  # pragma: no cover - Python 3.10 without tomli
        raise ModelError(
            f"cannot read model spec {source}: Python < 3.11 needs the 'tomli' package "
            "(pip install tomli)"
        )
    try:
        document: dict[str, Any] = _toml.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, _toml.TOMLDecodeError) as exc:
        raise ModelError(f"{source}: not valid TOML: {exc}") from exc
    return document


def builtin_specs() -> dict[str, ModelSpec]:
    """The specs shipped in ``streampose/models/specs``, by spec name."""
    specs: dict[str, ModelSpec] = {}
    folder = resources.files(_SPEC_PACKAGE).joinpath(_SPEC_DIR)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            source = f"built-in spec {entry.name}"
            spec = ModelSpec.from_dict(_parse_toml(entry.read_bytes(), source), source=source)
            specs[spec.name] = spec
    return specs
