"""A toy source kind for the architecture check (tests/sources/test_toy_source.py):
``toy://N`` is N generated frames (the flat pattern of :func:`tests.support.media.pattern`),
10 fps, not live.

It adds nothing to the package: :data:`TOY` is registered with
``streampose.sources.factory.SOURCES.registered(TOY)``. The pipeline's decode stage receives
the source pickled; unpickling a :class:`ToySource` imports this module (the spawned children
get the parent's ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from streampose.config.sections import LiveConfig
from streampose.errors import SourceError
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.factory import SourceKind
from tests.support.media import H, W, pattern

SCHEME = "toy://"
FPS = 10


class ToySource(Source):
    """``toy://N``: N frames of :func:`pattern`, pts 0..N-1 in 1/FPS."""

    def __init__(self, *, uri: str) -> None:
        self.uri = uri

    def open(self) -> SourceInfo:
        count = self.uri.removeprefix(SCHEME)
        if not count.isdigit():
            raise SourceError(f"{self.uri}: expected toy://N (a frame count)")
        self._info = SourceInfo(uri=self.uri, width=W, height=H, time_base=Fraction(1, FPS),
                                fps=Fraction(FPS), frames=int(count))
        return self._info

    def frames(self) -> Iterator[Frame]:
        info = self.open()
        for i in range(info.frames or 0):
            yield Frame(image=pattern(i), pts=i, index=i)

    def close(self) -> None:
        pass


def _toy(uri: str | Path, *, threads: int, convert_threads: int,
         live: LiveConfig | None) -> Source:
    return ToySource(uri=str(uri))


TOY = SourceKind(name="toy", matches=lambda uri: str(uri).startswith(SCHEME), make=_toy)
