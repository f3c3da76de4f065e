"""One entry point from a source string to a :class:`~streampose.sources.base.Source`.

Adding a source type: its module here plus one line in :func:`create_source`. See
ARCHITECTURE.md (sources).
"""

from __future__ import annotations

from pathlib import Path

from streampose.config.sections import LiveConfig
from streampose.sources.base import Source
from streampose.sources.images import ImageSource
from streampose.sources.live import LiveSource
from streampose.sources.video import VideoFileSource
from streampose.uri import is_image_uri, is_live_uri

__all__ = ["create_source", "open_source"]


def create_source(uri: str | Path, *, threads: int = 0, convert_threads: int = 1,
                  live: LiveConfig | None = None) -> Source:
    """The right source for ``uri``, not yet opened (picklable: a stage can take it).

    A live URL or webcam (:func:`~streampose.uri.is_live_uri`) gives a
    :class:`LiveSource` (``live`` configures it; ``threads`` as for files); a directory, a
    glob pattern or a file with an image extension an :class:`ImageSource`; anything
    else a :class:`VideoFileSource` (``threads`` and ``convert_threads`` apply to it).
    """
    text = str(uri)
    if is_live_uri(text):
        return LiveSource(uri=text, config=live, threads=threads)
    if is_image_uri(uri):
        return ImageSource(path=uri)
    return VideoFileSource(path=uri, threads=threads, convert_threads=convert_threads)


def open_source(uri: str | Path, *, threads: int = 0, convert_threads: int = 1,
                live: LiveConfig | None = None) -> Source:
    """:func:`create_source`, opened (``source.info`` is then set; SourceError if not)."""
    source = create_source(uri, threads=threads, convert_threads=convert_threads, live=live)
    source.open()
    return source
