"""sources/sample.py: calibration frames, an equal share per source, spread over a video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.errors import SourceError
from streampose.sources.sample import sample_frames


def folder_of(path: Path, values: list[int]) -> Path:
    path.mkdir()
    for i, value in enumerate(values):
        cv2.imwrite(str(path / f"{i:02d}.png"), np.full((16, 24, 3), value, np.uint8))
    return path


def test_frames_are_spread_and_shared_between_sources(tmp_path: Path) -> None:
    first = folder_of(tmp_path / "a", [0, 10, 20, 30, 40, 50])
    second = folder_of(tmp_path / "b", [100, 110])
    frames = sample_frames([str(first), str(second)], 6)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 20, 40, 100, 110]
    assert all(f.shape == (16, 24, 3) and f.dtype == np.uint8 for f in frames)
    assert len(sample_frames([str(first)], 2)) == 2


def test_no_frames_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError):
        sample_frames([str(tmp_path / "empty")], 4)
