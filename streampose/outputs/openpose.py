"""OpenPose's JSON output format: one file per frame.

``pose_keypoints_2d`` is flat ``x, y, confidence`` per keypoint in an OpenPose layout:
poses of an OpenPose skeleton (COCO-18, BODY-25) are written in their own layout, as
OpenPose writes them; poses of any other skeleton are converted to the OpenPose COCO-18
layout (:mod:`streampose.pose.convert`). COCO-17 poses thus gain a neck: the midpoint of
the two shoulders, with the smaller of their confidences, or (0, 0, 0) unless both
shoulders were found. Missing keypoints are (0, 0, 0), as in OpenPose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import discard_partial, make_folder, write_failed
from streampose.pose import COCO18, Poses, Skeleton
from streampose.pose.convert import convert

__all__ = ["OPENPOSE_LAYOUTS", "OpenPoseJsonSink", "openpose_layout"]

# Skeletons OpenPose itself writes; any other is converted to COCO-18.
OPENPOSE_LAYOUTS = frozenset({"coco18", "body25"})

_EMPTY_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
                "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
                "hand_right_keypoints_3d")


class OpenPoseJsonSink(Sink):
    """One OpenPose-format JSON file per frame (``people[].pose_keypoints_2d``, ``person_id``).

    Files are named like OpenPose's: ``<image stem>_keypoints.json`` for images and
    ``<video stem>_<frame:012d>_keypoints.json`` for videos (prefixed ``s<stream>_`` when
    there are several sources).
    """

    def __init__(self, *, folder: Path, stems: list[str]) -> None:
        self.folder, self.stems = folder, stems

    def open(self) -> None:
        make_folder(self.folder, "OpenPose JSON folder")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        poses = convert(poses, openpose_layout(poses.skeleton))
        people = [_person(kp, int(i)) for kp, i in
                  zip(poses.keypoints.astype(np.float64), poses.track_ids, strict=True)]
        path = self.folder / self._name(meta)
        try:
            path.write_text(json.dumps({"version": 1.3, "people": people}))
        except OSError as exc:
            discard_partial(path)  # no half-written file left behind
            raise write_failed("OpenPose JSON output", path, exc) from exc

    def _name(self, meta: FrameMeta) -> str:
        prefix = f"s{meta.stream}_" if len(self.stems) > 1 else ""
        if meta.name is not None:
            return f"{prefix}{Path(meta.name).stem}_keypoints.json"
        return f"{prefix}{self.stems[meta.stream]}_{meta.frame:012d}_keypoints.json"


def openpose_layout(skeleton: Skeleton) -> Skeleton:
    """The skeleton ``skeleton``'s poses are written in: itself when OpenPose writes it,
    else COCO-18."""
    return skeleton if skeleton.name in OPENPOSE_LAYOUTS else COCO18


def _person(keypoints: np.ndarray, track_id: int) -> dict[str, Any]:
    person: dict[str, Any] = {"person_id": [track_id],
                              "pose_keypoints_2d": np.round(keypoints, 3).ravel().tolist()}
    person.update({part: [] for part in _EMPTY_PARTS})
    return person
