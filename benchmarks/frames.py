"""Frames for the benchmark scripts: the first ``count`` frames of a video (OpenCV)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR frames from the start of ``path`` (fewer if it is shorter)."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
