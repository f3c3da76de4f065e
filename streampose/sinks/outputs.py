"""Per-frame outputs of the render stage: small sinks with one open/write/close shape.

Every sink receives frames in order per stream, after drawing. Image sinks use the
annotated frame; data sinks use the poses (in frame pixels) and the frame's identity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from streampose.errors import OutputError
from streampose.media import VideoWriter
from streampose.pose import Poses
from streampose.pose.coco import to_coco_results
from streampose.sinks.jsonl import JsonLinesWriter, check_writable


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """Who a frame is: stream, source frame index, times, and its name for image sources."""

    stream: int
    frame: int
    pts: int
    pts_s: float
    wall: float
    image_id: int
    name: str | None = None


def image_id(name: str | None, index: int) -> int:
    """COCO style: the integer file stem when it is all digits, else the running index."""
    if name is not None:
        stem = Path(name).stem
        if stem.isdigit():
            return int(stem)
    return index


class Sink:
    """Base: sinks override what they need."""

    wants_image = False

    def open(self) -> None:
        """Create the output (runs in the render process)."""

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the output; must leave a valid file whatever was written."""


class JsonLinesSink(Sink):
    """One JSON object per frame: stream, frame, pts, wall, skeleton, persons."""

    def __init__(self, *, path: Path) -> None:
        self._writer = JsonLinesWriter(path=path)

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        record: dict[str, Any] = {"stream": meta.stream, "frame": meta.frame,
                                  "pts": round(meta.pts_s, 6), "wall": round(meta.wall, 6)}
        if meta.name is not None:
            record["image"] = meta.name
        record.update(poses.to_json())
        self._writer.write(record)

    def close(self) -> None:
        self._writer.close()


class CocoResultsSink(Sink):
    """A COCO keypoint results file (a JSON array), streamed: nothing accumulates in memory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._count = 0

    def open(self) -> None:
        check_writable(self.path, "COCO results")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write("[")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        assert self._file is not None, "open() first"
        for result in to_coco_results(poses, meta.image_id):
            self._file.write(("," if self._count else "") + "\n" + json.dumps(result))
            self._count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.write("\n]\n")
            self._file.close()
            self._file = None


class OpenPoseJsonSink(Sink):
    """One OpenPose-format JSON file per frame (``people[].pose_keypoints_2d``, ``person_id``).

    Files are named like OpenPose's: ``<image stem>_keypoints.json`` for images and
    ``<video stem>_<frame:012d>_keypoints.json`` for videos (prefixed ``s<stream>_`` when
    there are several sources).
    """

    def __init__(self, *, folder: Path, stems: list[str]) -> None:
        self.folder, self.stems = folder, stems

    def open(self) -> None:
        if not self.folder.is_dir():
            try:
                self.folder.mkdir(parents=True)
            except OSError as exc:
                raise OutputError(f"OpenPose JSON folder {self.folder}: cannot create "
                                  f"({exc.strerror})") from exc
        check_writable(self.folder / "probe", "OpenPose JSON folder")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        people = [{"person_id": [int(i)], "pose_keypoints_2d": np.round(kp, 3).ravel().tolist(),
                   "face_keypoints_2d": [], "hand_left_keypoints_2d": [],
                   "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
                   "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                   "hand_right_keypoints_3d": []}
                  for kp, i in zip(poses.keypoints.astype(np.float64), poses.track_ids,
                                   strict=True)]
        path = self.folder / self._name(meta)
        path.write_text(json.dumps({"version": 1.3, "people": people}))

    def _name(self, meta: FrameMeta) -> str:
        prefix = f"s{meta.stream}_" if len(self.stems) > 1 else ""
        if meta.name is not None:
            return f"{prefix}{Path(meta.name).stem}_keypoints.json"
        return f"{prefix}{self.stems[meta.stream]}_{meta.frame:012d}_keypoints.json"


class VideoSink(Sink):
    """The annotated frames of one stream as an H.264 MP4 keeping the source's timing."""

    wants_image = True

    def __init__(self, *, stream: int, path: Path, width: int, height: int, fps: Fraction,
                 time_base: Fraction, preset: str, crf: int, threads: int,
                 fragmented: bool = False) -> None:
        self.stream, self.size = stream, (width, height)
        self._writer = VideoWriter(path=path, width=width, height=height, fps=fps,
                                   time_base=time_base, preset=preset, crf=crf,
                                   threads=threads, fragmented=fragmented)

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if meta.stream != self.stream or image is None:
            return
        if (image.shape[1], image.shape[0]) != self.size:  # a camera changed resolution
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image, meta.pts)

    def close(self) -> None:
        self._writer.close()


class ImageFolderSink(Sink):
    """Annotated images written to a folder under their source names (image sources)."""

    wants_image = True

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder

    def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"image output folder {self.folder}: cannot create "
                              f"({exc.strerror})") from exc
        check_writable(self.folder / "probe", "image output folder")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if image is None:
            return
        name = meta.name or f"frame_{meta.stream}_{meta.frame:06d}.jpg"
        if not cv2.imwrite(str(self.folder / name), image):
            raise OutputError(f"{self.folder / name}: cannot write the image")
