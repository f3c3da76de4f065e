"""``streampose models``: the models found by name (:mod:`~.folders`), one line each.

Each line: the name, its head and skeleton (from its spec: a sidecar, a built-in spec or
the ONNX metadata), its default input scale, the file size, its licence where the ONNX
metadata or :data:`KNOWN_FILES` says it, and its COCO keypoint AP on ``../shared/eval/coco4``
where it was measured (:data:`KNOWN_FILES`, by the file's SHA-256: a figure belongs to
one file, not to a name).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from streampose.errors import ModelError
from streampose.models.download import sha256_of
from streampose.models.folders import SUFFIX, ModelFolder, installed_models
from streampose.models.resolve import resolve_spec

__all__ = ["KNOWN_FILES", "Known", "Listed", "describe", "listing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Known:
    """What is known of one model file: its licence, its coco4 AP at the default size."""

    name: str
    licence: str | None
    coco4_ap: float | None


# The model files of ../shared/models, by SHA-256. AP: `streampose eval` on
# ../shared/eval/coco4 at the default input size (README, "Models"; 4 images, so +-0.02
# is noise). Licences: ../shared/models/MODEL.md (mnthin: converted from
# tf-pose-estimation, Apache-2.0; mnv2s: none stated); YOLO11n-pose says its own in its
# metadata (AGPL-3.0).
KNOWN_FILES: dict[str, Known] = {
    "331b1412b22bb723d57d2d2cdd20255e1535ae8804980cf0001a624af9c7e8d5":
        Known("openpose-mnv2s-coco18", None, 0.443),
    "88db3932f9282352399e38849447a153d2b5fbbf5880bb4234e0a53cbbf882c5":
        Known("openpose-mnthin-coco18", "Apache-2.0", 0.621),
    "b7d4199b5a58e4365ca1936fc25487f219b41c6943c2fe23a234a5bdea338c84":
        Known("yolo11n-pose", None, 0.737),
}
_COLUMNS = ("name", "head", "skeleton", "input", "size", "licence", "coco4 AP")


@dataclass(frozen=True)
class Listed:
    """One model as ``streampose models`` lists it (``problem``: why it cannot run)."""

    name: str
    path: Path
    size: int
    head: str = "?"
    skeleton: str = "?"
    input: str = "?"
    licence: str | None = None
    coco4_ap: float | None = None
    problem: str | None = None

    def cells(self) -> tuple[str, ...]:
        ap = "-" if self.coco4_ap is None else f"{self.coco4_ap:.3f}"
        return (self.name, self.head, self.skeleton, self.input, _megabytes(self.size),
                self.licence or "-", ap)


def describe(name: str, path: Path) -> Listed:
    """``path`` as listed: its spec's facts, or the problem that stops it running."""
    size = path.stat().st_size
    known = KNOWN_FILES.get(sha256_of(path))
    licence = _metadata_licence(path) or (known.licence if known else None)
    ap = known.coco4_ap if known else None
    try:
        spec = resolve_spec(path)
    except ModelError as exc:
        return Listed(name, path, size, licence=licence, coco4_ap=ap, problem=str(exc))
    scale = "height" if spec.fit == "height" else "long side"
    return Listed(name, path, size, head=spec.head, skeleton=spec.skeleton,
                  input=f"{scale} {spec.input_height}", licence=licence, coco4_ap=ap)


def listing(folders: tuple[ModelFolder, ...]) -> list[str]:
    """The lines ``streampose models`` prints for ``folders``."""
    found = [describe(name, path) for name, path in installed_models(folders).items()]
    searched = [f"  {folder}" for folder in folders]
    if not found:
        return ["no models found; folders searched, in order:", *searched,
                f"put NAME{SUFFIX} in one of them (with NAME.toml, its spec, unless it is "
                "built in or in the ONNX metadata), e.g. in the user cache, or set "
                "STREAMPOSE_MODELS=DIR or give --models-dir DIR; then --model NAME runs it"]
    lines = _table([_COLUMNS, *(m.cells() for m in found)])
    lines += [f"{m.name}: {m.problem}" for m in found if m.problem]
    note = ["coco4 AP: COCO keypoint AP on ../shared/eval/coco4 at the default input, "
            "measured for these very files (README, Models)"]
    return [*lines, "folders searched, in order:", *searched,
            *(note if any(m.coco4_ap is not None for m in found) else [])]


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _metadata_licence(path: Path) -> str | None:
    """The ``license`` an exporter wrote in the ONNX metadata (first word: ``AGPL-3.0``)."""
    from streampose.models.onnx_meta import read_onnx_metadata

    try:
        meta, _, _ = read_onnx_metadata(path)
    except ModelError as exc:
        log.debug("%s", exc)
        return None
    words = meta.get("license", "").split()
    return words[0] if words else None
