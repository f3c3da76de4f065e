"""Model specs from the metadata an exporter stored in the ONNX file (Ultralytics YOLO-pose).

Ultralytics writes its model facts as ONNX custom metadata, every value a Python literal
in a string: ``task = "pose"``, ``kpt_shape = "[17, 3]"``, ``stride = "32"``,
``imgsz = "[640, 640]"``, ``names = "{0: 'person'}"``. :func:`spec_from_onnx_metadata`
reads them (with ONNX Runtime, a core dependency; literals parsed with
:func:`ast.literal_eval`, never evaluated) and builds a ``keypoints``-head spec, so any
YOLO-pose export runs without a sidecar: RGB scaled to 0..1, grey (114) padding, a
centred letterbox fitted by its long side (``fit = "long_side"``), H and W multiples of
the stride. The default long side is :data:`STREAM_SCALE` times the training size
``imgsz`` (960 for 640): video streams show people smaller than the training photos
(on ../shared's surveillance clip YOLO11n-pose finds 0.4 people per frame at 640 and 3.5
at 960, and COCO AP on coco4 is 0.70 at 640 and 0.74 at 960), at 2.25x the cost;
``--height 640`` runs the training size. A sidecar or ``--model-spec`` still wins
(:func:`~.resolve.resolve_spec`).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streampose.arith import round_up
from streampose.errors import ModelError
from streampose.models.spec import ModelSpec

__all__ = ["POSE_SKELETONS", "read_onnx_metadata", "spec_from_metadata",
           "spec_from_onnx_metadata"]

log = logging.getLogger(__name__)

POSE_SKELETONS = {(17, 3): "coco17"}  # kpt_shape -> skeleton
_DEFAULT_SIZE = 640  # Ultralytics' training size when the metadata has none
STREAM_SCALE = 1.5  # default input long side = this x the training size (see above)


def read_onnx_metadata(path: Path) -> tuple[dict[str, str], str, str]:
    """``(custom metadata, first input name, first output name)`` of an ONNX file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own unexported exception types
        text = str(exc).strip().splitlines()
        raise ModelError(f"cannot read ONNX model {path}: {text[0] if text else exc}") from exc
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return meta, session.get_inputs()[0].name, session.get_outputs()[0].name


def spec_from_onnx_metadata(path: Path) -> ModelSpec | None:
    """The spec of a YOLO-pose ONNX export, from its metadata; None when the file says
    nothing of a pose task (then it needs a spec). ModelError for a pose model this
    reader cannot describe (naming the file and the field)."""
    meta, input_name, output_name = read_onnx_metadata(path)
    if _literal(meta, "task", path) != "pose":
        return None
    return spec_from_metadata(meta, input_name=input_name, output_name=output_name,
                              name=path.stem, source=f"ONNX metadata of {path}")


def spec_from_metadata(meta: Mapping[str, str], *, input_name: str, output_name: str,
                       name: str, source: str) -> ModelSpec:
    """A ``keypoints``-head spec from Ultralytics metadata (values as stored: strings)."""
    kpt_shape = _literal(meta, "kpt_shape", source)
    key = tuple(kpt_shape) if isinstance(kpt_shape, list | tuple) else None
    skeleton = POSE_SKELETONS.get(key) if key is not None else None
    if skeleton is None:
        known = ", ".join(str(list(k)) for k in POSE_SKELETONS)
        raise ModelError(f"{source}: kpt_shape = {kpt_shape!r} has no known skeleton "
                         f"(supported: {known}); pass --model-spec PATH.toml")
    names = _literal(meta, "names", source)
    if isinstance(names, dict) and len(names) > 1:
        log.warning("%s: %d classes (%s); every detection is read as a person", source,
                    len(names), ", ".join(map(str, names.values())))
    table: dict[str, Any] = {
        "name": name, "skeleton": skeleton, "head": "keypoints",
        "input_name": input_name, "input_layout": "NCHW", "color": "RGB",
        "mean": [0.0, 0.0, 0.0], "scale": [1 / 255] * 3, "pad_value": 114.0,
        "centred": True, "fit": "long_side",
        "stride": _stride(meta, source),
        "input_height": _stream_size(_size(meta, source), _stride(meta, source)),
        "output": output_name, "keypoints": int(key[0]),  # type: ignore[index]
    }
    return ModelSpec.from_dict(table, source=source)


def _literal(meta: Mapping[str, str], key: str, source: object) -> Any:
    """The Python literal stored under ``key`` (None when absent)."""
    text = meta.get(key)
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        if key == "task":  # a plain word is fine too
            return text.strip()
        raise ModelError(f"{source}: metadata {key} = {text!r} is not a literal "
                         "(expected e.g. kpt_shape = '[17, 3]')") from None


def _stride(meta: Mapping[str, str], source: str) -> int:
    value = _literal(meta, "stride", source)
    if isinstance(value, list | tuple) and value:
        value = max(value)
    if value is None:
        return 32
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
            or int(value) != value:
        raise ModelError(f"{source}: metadata stride = {meta['stride']!r} (allowed: a positive "
                         "integer)")
    return int(value)


def _stream_size(trained: int, stride: int) -> int:
    """The default input long side: :data:`STREAM_SCALE` x the training size, in strides."""
    return round_up(round(STREAM_SCALE * trained), stride)


def _size(meta: Mapping[str, str], source: str) -> int:
    value = _literal(meta, "imgsz", source)
    sizes = value if isinstance(value, list | tuple) else [value]
    if value is None:
        return _DEFAULT_SIZE
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                            for s in sizes):
        raise ModelError(f"{source}: metadata imgsz = {meta['imgsz']!r} (allowed: a positive "
                         "integer or a list of them)")
    return int(max(sizes))
