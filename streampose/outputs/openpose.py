"""OpenPose's JSON output format: one file per frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import make_folder
from streampose.pose import Poses

__all__ = ["OpenPoseJsonSink"]

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
        people = [_person(kp, int(i)) for kp, i in
                  zip(poses.keypoints.astype(np.float64), poses.track_ids, strict=True)]
        path = self.folder / self._name(meta)
        path.write_text(json.dumps({"version": 1.3, "people": people}))

    def _name(self, meta: FrameMeta) -> str:
        prefix = f"s{meta.stream}_" if len(self.stems) > 1 else ""
        if meta.name is not None:
            return f"{prefix}{Path(meta.name).stem}_keypoints.json"
        return f"{prefix}{self.stems[meta.stream]}_{meta.frame:012d}_keypoints.json"


def _person(keypoints: np.ndarray, track_id: int) -> dict[str, Any]:
    person: dict[str, Any] = {"person_id": [track_id],
                              "pose_keypoints_2d": np.round(keypoints, 3).ravel().tolist()}
    person.update({part: [] for part in _EMPTY_PARTS})
    return person
