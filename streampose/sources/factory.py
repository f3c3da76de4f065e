"""One entry point from a source string to a :class:`~streampose.sources.base.Source`: the
source kinds, tried in order.

Adding a source type: its module here plus one :class:`SourceKind` entry in
:data:`SOURCES` (or :meth:`SourceKinds.registered` from elsewhere). See ARCHITECTURE.md
(sources).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from streampose.config.sections import LiveConfig
from streampose.sources.base import Source
from streampose.sources.images import ImageSource
from streampose.sources.live import LiveSource
from streampose.sources.video import VideoFileSource
from streampose.uri import is_image_uri, is_live_uri

__all__ = ["SOURCES", "SourceKind", "SourceKinds", "create_source", "open_source"]


class MakeSource(Protocol):
    """How a kind makes its source from the string, not yet opened."""

    def __call__(self, uri: str | Path, *, threads: int, convert_threads: int,
                 live: LiveConfig | None) -> Source: ...


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: which strings it takes (``matches``), how it makes the source
    (``make``), and whether it is live (no end; a live source that is down at start-up
    may reconnect, see :func:`~streampose.sources.probe.probe_source`)."""

    name: str
    matches: Callable[[str | Path], bool]
    make: MakeSource
    live: bool = False


class SourceKinds:
    """The source kinds, in the order they are tried; the first that matches makes it."""

    def __init__(self, kinds: Sequence[SourceKind]) -> None:
        self._kinds = list(kinds)

    def __iter__(self) -> Iterator[SourceKind]:
        return iter(list(self._kinds))

    def kind_for(self, uri: str | Path) -> SourceKind:
        """The first kind that takes ``uri`` (the last built-in, video files, takes all)."""
        return next(kind for kind in self._kinds if kind.matches(uri))

    @contextlib.contextmanager
    def registered(self, kind: SourceKind) -> Iterator[SourceKind]:
        """``kind`` is tried first while the ``with`` block runs."""
        self._kinds.insert(0, kind)
        try:
            yield kind
        finally:
            self._kinds.remove(kind)


def _live(uri: str | Path, *, threads: int, convert_threads: int,
          live: LiveConfig | None) -> Source:
    return LiveSource(uri=str(uri), config=live, threads=threads)


def _images(uri: str | Path, *, threads: int, convert_threads: int,
            live: LiveConfig | None) -> Source:
    return ImageSource(path=uri)


def _video(uri: str | Path, *, threads: int, convert_threads: int,
           live: LiveConfig | None) -> Source:
    return VideoFileSource(path=uri, threads=threads, convert_threads=convert_threads)


SOURCES = SourceKinds([
    SourceKind(name="live", matches=lambda uri: is_live_uri(str(uri)), make=_live, live=True),
    SourceKind(name="images", matches=is_image_uri, make=_images),
    SourceKind(name="video", matches=lambda uri: True, make=_video),
])


def create_source(uri: str | Path, *, threads: int = 0, convert_threads: int = 1,
                  live: LiveConfig | None = None, autorotate: bool = True) -> Source:
    """The right source for ``uri``, not yet opened (picklable: a stage can take it).

    The first of :data:`SOURCES` that takes ``uri``: a live URL or webcam
    (:func:`~streampose.uri.is_live_uri`) gives a :class:`LiveSource` (``live`` configures
    it; ``threads`` as for files); a directory, a glob pattern or a file with an image
    extension an :class:`ImageSource`; anything else a :class:`VideoFileSource`
    (``threads`` and ``convert_threads`` apply to it). ``autorotate`` False: a video
    file's pictures as stored, whatever its display matrix says.
    """
    source = SOURCES.kind_for(uri).make(uri, threads=threads, convert_threads=convert_threads,
                                        live=live)
    source.autorotate = autorotate
    return source


def open_source(uri: str | Path, *, threads: int = 0, convert_threads: int = 1,
                live: LiveConfig | None = None) -> Source:
    """:func:`create_source`, opened (``source.info`` is then set; SourceError if not)."""
    source = create_source(uri, threads=threads, convert_threads=convert_threads, live=live)
    source.open()
    return source
