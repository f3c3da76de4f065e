"""The run's cameras: which camera each stream carries, and whether that changes.

Every run has a :class:`Lineup`, whatever its kind:

- a fixed run (sources, or a cameras file) assigns its cameras once, at the start: one
  per stream, for the whole run. A source that is no camera of a cameras file is a
  camera named after its URI (:func:`streampose.uri.camera_name`), with the run's
  settings;
- a run whose cameras come and go (``--max-streams``, a watched cameras file) assigns
  its first cameras at the start and others while it goes on (``changing``): its
  streams are sized for any camera, and a stream may carry none for a while (an idle
  seat, ``None`` here).

Either way each stream is a seat of :mod:`streampose.cameras.seats`.

Each stream's :class:`StreamCamera` holds its name, its source URI and its settings
(the run's with the camera's own overrides, :class:`~streampose.config.overrides.StreamSettings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streampose.config.camera import Camera
from streampose.config.overrides import StreamSettings
from streampose.uri import camera_name, unique_names

__all__ = ["Lineup", "StreamCamera", "lineup"]


@dataclass(frozen=True)
class StreamCamera:
    """One stream's camera: its name (unique in the run), its source's URI, its settings,
    and its cameras file entry (None: a source named after its URI)."""

    name: str
    uri: str
    settings: StreamSettings
    camera: Camera | None = None

    @property
    def record(self) -> bool:
        """Whether its annotated video is written."""
        return self.settings.record


@dataclass(frozen=True)
class Lineup:
    """Each stream's camera at the start (None: an idle seat), and whether the
    cameras change while the run goes on."""

    streams: tuple[StreamCamera | None, ...]
    changing: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Each stream's camera name; "" for an idle seat."""
        return tuple(s.name if s is not None else "" for s in self.streams)

    @property
    def recorded(self) -> tuple[bool, ...]:
        """Whether each stream's annotated video is written (an idle seat: not yet)."""
        return tuple(s.record if s is not None else False for s in self.streams)

    @property
    def named(self) -> bool:
        """Whether the records name their camera: cameras from a cameras file, or that
        come and go."""
        return self.changing or any(s is not None and s.camera is not None
                                    for s in self.streams)


def lineup(cameras: Sequence[Camera], uris: Sequence[str], settings: StreamSettings, *,
           changing: bool) -> Lineup:
    """The lineup of a run of ``len(uris)`` streams whose first ``cameras`` come from a
    cameras file: each other stream is idle when the cameras change, else a camera
    named after its URI."""
    names = unique_names([camera_name(uri) for uri in uris])
    streams = [_stream(cameras[s] if s < len(cameras) else None, names[s], uri, settings,
                       changing=changing) for s, uri in enumerate(uris)]
    return Lineup(streams=tuple(streams), changing=changing)


def _stream(camera: Camera | None, name: str, uri: str, settings: StreamSettings, *,
            changing: bool) -> StreamCamera | None:
    if camera is not None:
        return StreamCamera(name=camera.name, uri=uri, settings=settings.for_camera(camera),
                            camera=camera)
    return None if changing else StreamCamera(name=name, uri=uri, settings=settings)
