"""probe_source: a live stream whose open did not learn its frame size (FFmpeg's probe gave
up early, as on a loaded machine) is sized from its first frame, not planned as 0x0."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest

import streampose.sources.probe as probe_mod
from streampose.errors import SourceError
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.probe import LIVE_DEFAULT_SIZE, probe_source

URL = "rtsp://127.0.0.1:1/cam"


class SizelessCamera(Source):
    """A live source whose info says 0x0; its frames are 48x32 (none when ``frames`` 0)."""

    def __init__(self, frames: int = 1) -> None:
        self.count = frames

    def open(self) -> SourceInfo:
        self._info = SourceInfo(uri=URL, width=0, height=0, time_base=Fraction(1, 1000),
                               fps=None, frames=None, live=True)
        return self._info

    def close(self) -> None:
        pass

    def frames(self) -> Iterator[Frame]:
        for i in range(self.count):
            yield Frame(image=np.zeros((32, 48, 3), np.uint8), pts=i, index=i)


@pytest.mark.parametrize(("frames", "size"), [(1, (48, 32)), (0, LIVE_DEFAULT_SIZE)])
def test_a_sizeless_live_stream_is_sized_from_a_frame(monkeypatch: pytest.MonkeyPatch,
                                                      frames: int, size: tuple) -> None:
    monkeypatch.setattr(probe_mod, "create_source", lambda uri, live=None: SizelessCamera(frames))
    probed = probe_source(URL)
    assert probed.sizes == (size,) and (probed.info.width, probed.info.height) == size
    assert probed.live


def test_size_from_a_frame_of_a_stream_that_ends_is_a_source_error() -> None:
    source = SizelessCamera(frames=0)
    source.open()
    with pytest.raises(SourceError, match="ended before its first frame"):
        probe_mod._size_from_a_frame(source)
