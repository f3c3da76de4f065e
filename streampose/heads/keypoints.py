"""The ``keypoints`` head: one-stage pose networks (YOLO-pose style), no PAFs.

The network gives, per anchor, a person box, a person score and K keypoints: one output
``[N, 4 + 1 + 3K, A]`` whose rows are the box centre x, centre y, width and height (input
pixels), the person score (a probability), then K x (x, y, visibility probability). The
head keeps the anchors scoring above a threshold, suppresses boxes overlapping a better
one (greedy box NMS), and keeps at most ``max_people``. Spec keys (besides the generic ones,
see :mod:`streampose.models.spec`)::

    head = "keypoints"
    output = "output0"            # the model output to read
    keypoints = 17                # K (the skeleton must have K keypoints)
    score_threshold = 0.25        # optional defaults for the [keypoints] config section
    iou_threshold = 0.7
    max_people = 100

Run-time values come from the ``[keypoints]`` config section
(:class:`~streampose.config.sections.KeypointThresholds`); what it leaves unset comes from
the spec, else the section's defaults. With device processing the score threshold runs
on the inference device and only the anchors above it come back. A frame's payload is a
float32 table of ``1 + people`` rows of ``5 + 3K`` values: row 0 holds the count, each
other row a box (x1, y1, x2, y2), its score and the keypoints. NaN scores count as below
the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streampose.config.sections import KeypointThresholds
from streampose.errors import ModelError
from streampose.heads.base import Head, HeadSettings, Payload, Shape, as_numpy
from streampose.models.spec import ModelSpec, check_keys, fail
from streampose.pose.letterbox import Letterbox
from streampose.pose.nms import box_nms
from streampose.pose.poses import Poses

if TYPE_CHECKING:
    from streampose.transport.messages import FrameHeader
    from streampose.transport.ring import SharedRing

__all__ = ["KeypointHead", "KeypointLimits", "KeypointOptions", "PeopleTable", "box_nms",
           "select_people"]

_KEYS = ("output", "keypoints", "score_threshold", "iou_threshold", "max_people")
BOX_COLUMNS = 5  # x1, y1, x2, y2, score


@dataclass(frozen=True)
class KeypointOptions:
    """The keypoints head's part of a spec."""

    output: str
    keypoints: int
    score_threshold: float | None = None
    iou_threshold: float | None = None
    max_people: int | None = None


@dataclass(frozen=True)
class KeypointLimits:
    """The thresholds one run uses (config, else spec, else defaults)."""

    score_threshold: float
    iou_threshold: float
    max_people: int


@dataclass(frozen=True)
class PeopleTable(Payload):
    """One frame's people: float32 ``(1 + P, 5 + 3K)``, row 0 = (P, 0, ...)."""

    table: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        shape = tuple(self.table.shape)
        ring.array(slot, shape, "float32")[:] = self.table
        return shape, "float32"


class KeypointHead(Head):
    """Boxes + person scores + keypoints per anchor -> people, by score threshold and NMS."""

    name = "keypoints"

    def __init__(self, spec: ModelSpec, settings: HeadSettings | None = None) -> None:
        super().__init__(spec, settings)
        k = self.skeleton.num_keypoints
        if self.options.keypoints != k:
            raise ModelError(f"model spec {spec.source}: keypoints = {self.options.keypoints}, "
                             f"but skeleton {self.skeleton.name} has {k} keypoints")

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, source: str) -> KeypointOptions:
        check_keys(table, _KEYS, source, "")
        missing = [key for key in ("output", "keypoints") if key not in table]
        if missing:
            raise ModelError(f"{source}: missing key(s) {', '.join(map(repr, missing))} "
                             "(the keypoints head reads them)")
        output = table["output"]
        if not isinstance(output, str) or not output:
            raise fail(source, "output", output, "a non-empty output name")
        return KeypointOptions(
            output=output,
            keypoints=_int(table, "keypoints", 1, 1000, source),
            score_threshold=_fraction(table, "score_threshold", source, zero=True),
            iou_threshold=_fraction(table, "iou_threshold", source, zero=False),
            max_people=_int(table, "max_people", 1, 10_000, source)
            if "max_people" in table else None,
        )

    @property
    def options(self) -> KeypointOptions:
        opts: KeypointOptions = self.spec.head_options
        return opts

    @property
    def limits(self) -> KeypointLimits:
        """Thresholds from the ``[keypoints]`` section, else the spec, else the defaults."""
        config = self.settings.get("keypoints")
        values = {}
        for name, default in KeypointThresholds.DEFAULTS.items():
            value = getattr(config, name, None) if config is not None else None
            if value is None:
                value = getattr(self.options, name)
            values[name] = default if value is None else value
        return KeypointLimits(score_threshold=float(values["score_threshold"]),
                              iou_threshold=float(values["iou_threshold"]),
                              max_people=int(values["max_people"]))

    @property
    def columns(self) -> int:
        """Values per person in the payload (and rows per anchor in the output)."""
        return BOX_COLUMNS + 3 * self.options.keypoints

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.options.output,)

    def check_outputs(self, shapes: Mapping[str, Shape], *, model: str) -> None:
        name, source = self.options.output, self.spec.source
        if name not in shapes:
            raise ModelError(f"model {model} has no output {name!r} (output in spec {source}); "
                             f"its outputs are: {', '.join(map(repr, shapes))}")
        shape = shapes[name]
        rows = shape[1] if len(shape) == 3 else None
        if len(shape) != 3 or (isinstance(rows, int) and rows != self.columns):
            raise ModelError(f"model {model}: output {name!r} has shape {list(shape)}, but "
                             f"keypoints = {self.options.keypoints} in spec {source} reads "
                             f"[N, {self.columns}, anchors] (4 box + 1 score + 3 per keypoint)")

    # -- payloads -------------------------------------------------------------------------

    def payload_bytes(self, plans: Iterable[Letterbox]) -> int:
        return (1 + self.limits.max_people) * self.columns * 4

    def payloads(self, outputs: Mapping[str, Any], count: int) -> Sequence[Payload]:
        limits = self.limits
        return [PeopleTable(select_people(candidates, limits))
                for candidates in _candidates(outputs[self.options.output], count, limits)]

    # -- decoding -------------------------------------------------------------------------

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        table = ring.view(slot, header.shape, header.dtype)
        rows = np.array(table[1 : 1 + int(table[0, 0])], np.float32)  # a copy: the slot is reused
        k = self.options.keypoints
        keypoints = rows[:, BOX_COLUMNS:].reshape(len(rows), k, 3)
        return Poses(keypoints, rows[:, 4], self.skeleton, boxes=rows[:, :4])


def _candidates(output: Any, count: int, limits: KeypointLimits) -> list[np.ndarray]:
    """Each image's ``(5 + 3K, A')`` anchor columns on the host. A torch tensor (device
    processing) is thresholded where it is, so only the anchors above the score threshold
    are copied back (NaN scores never pass); the anchor order is kept."""
    if isinstance(output, np.ndarray):
        return [output[i] for i in range(count)]
    scores = output[:, 4]
    above = (scores > limits.score_threshold) & (scores == scores)  # NaN != NaN
    return [as_numpy(output[i][:, above[i]]) for i in range(count)]


def select_people(predictions: np.ndarray, limits: KeypointLimits) -> np.ndarray:
    """One image's output ``(5 + 3K, A)`` -> its people table ``(1 + P, 5 + 3K)``.

    Anchors scoring above ``score_threshold`` (NaN never does), boxes as (x1, y1, x2, y2),
    greedy NMS by score (ties keep the anchor order), at most ``max_people``. Keypoints
    keep their visibility as confidence; a non-finite or non-positive one is missing
    (0, 0, 0).
    """
    columns = predictions.shape[0]
    scores = predictions[4]
    with np.errstate(invalid="ignore"):
        chosen = np.flatnonzero(scores > limits.score_threshold)
    candidates = np.array(predictions[:, chosen].T, np.float32)  # (m, 5 + 3K)
    boxes = _corners(candidates[:, :4])
    finite = np.isfinite(boxes).all(axis=1)
    candidates, boxes = candidates[finite], boxes[finite]
    order = np.argsort(-candidates[:, 4], kind="stable")
    kept = order[box_nms(boxes[order], limits.iou_threshold, limits.max_people)]
    table = np.zeros((1 + len(kept), columns), np.float32)
    table[0, 0] = len(kept)
    table[1:, :4] = boxes[kept]
    table[1:, 4] = candidates[kept, 4]
    table[1:, BOX_COLUMNS:] = _clean_keypoints(candidates[kept, BOX_COLUMNS:])
    return table


def _corners(xywh: np.ndarray) -> np.ndarray:
    centre, half = xywh[:, :2], xywh[:, 2:4] / 2
    return np.concatenate([centre - half, centre + half], axis=1)


def _clean_keypoints(flat: np.ndarray) -> np.ndarray:
    kp = flat.reshape(len(flat), flat.shape[1] // 3, 3).copy()
    finite = np.isfinite(kp).all(axis=2) & (kp[..., 2] > 0)
    kp[~finite] = 0.0
    kp[..., 2] = np.minimum(kp[..., 2], 1.0)
    rows: np.ndarray = kp.reshape(flat.shape)
    return rows


def _int(table: Mapping[str, Any], field: str, low: int, high: int, source: str) -> int:
    value = table[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(source, field, value, f"an integer in [{low}, {high}]")
    return value


def _fraction(table: Mapping[str, Any], field: str, source: str, *, zero: bool) -> float | None:
    if field not in table:
        return None
    value = table[field]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (0.0 <= value <= 1.0 if zero else 0.0 < value <= 1.0):
        raise fail(source, field, value, "a number in [0, 1]" if zero else "a number in (0, 1]")
    return float(value)
