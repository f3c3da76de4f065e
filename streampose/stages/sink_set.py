"""Render's outputs: every sink written in turn, each call guarded.

An OS error a sink did not name becomes an :class:`~streampose.errors.OutputError`
naming the sink (:func:`guarded`); closing goes on past a failing sink. A seat's own
recordings join the set while their camera is attached (:meth:`SinkSet.adopt`,
:meth:`SinkSet.drop`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from streampose.errors import OutputError, describe_error
from streampose.outputs.base import FrameMeta, Sink
from streampose.pose import Poses

__all__ = ["SinkSet", "guarded"]

log = logging.getLogger(__name__)


def guarded(sink: Sink, action: str, call: Callable[..., None], *args: Any) -> None:
    """``call(*args)``; an OS error a sink did not name becomes an OutputError naming it."""
    try:
        call(*args)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"output {type(sink).__name__}: cannot {action} "
                          f"({describe_error(exc)})") from exc


class SinkSet:
    """The sinks of a render stage: opened together, written in order, closed together."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self._opened: list[Sink] = []
        self.needs_image = False
        self._event_sinks: list[Sink] = []

    def open(self) -> None:
        """Open every sink; when one fails, close those already open and raise."""
        self.needs_image = any(sink.wants_image for sink in self.sinks)
        self._event_sinks = [sink for sink in self.sinks if sink.wants_events]
        try:
            for sink in self.sinks:
                sink.open()
                self._opened.append(sink)
        except BaseException:
            self.close()  # the runner calls close() only after a successful open()
            raise

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        for sink in self.sinks:
            guarded(sink, "write", sink.write, meta, poses, image)

    def write_events(self, meta: FrameMeta, events: Sequence[Any]) -> None:
        """The frame's events, to the sinks that want events."""
        for sink in self._event_sinks:
            sink.write_events(meta, events)

    def frame_done(self, meta: FrameMeta) -> None:
        """The frame ``meta`` is written to every sink, events included."""
        for sink in self.sinks:
            sink.frame_done(meta)

    def rename(self, stream: int, camera: str) -> None:
        """The per-camera sinks of ``stream`` take the name of its new camera."""
        for sink in self.sinks:
            names = getattr(sink, "cameras", None)
            if isinstance(names, list) and stream < len(names):
                names[stream] = camera
            elif getattr(sink, "stream", None) == stream and hasattr(sink, "camera"):
                sink.camera = camera

    def adopt(self, sink: Sink) -> None:
        """Write ``sink`` (already open) after the others from now on; closed with them."""
        self.sinks.append(sink)
        self._opened.append(sink)
        self.needs_image = any(s.wants_image for s in self.sinks)

    def drop(self, sink: Sink) -> None:
        """Stop writing ``sink`` and close it now (a failure is logged: the run goes on)."""
        self.sinks.remove(sink)
        self._opened.remove(sink)
        try:
            guarded(sink, "close", sink.close)
        except OutputError as exc:
            log.error("%s", exc)

    def close(self) -> None:
        """Close every open sink, even after one fails; then raise the first failure."""
        first: OutputError | None = None
        for sink in self._opened:
            try:
                guarded(sink, "close", sink.close)
            except OutputError as exc:  # one broken output must not stop the others closing
                log.debug("closing %s failed", type(sink).__name__, exc_info=True)
                if first is None:
                    first = exc
                else:
                    log.error("%s", exc)
            except Exception as exc:  # a bug in a sink: logged, the others still close
                log.debug("closing %s failed", type(sink).__name__, exc_info=True)
                log.error("closing output %s failed: %s", type(sink).__name__, exc)
        self._opened.clear()
        if first is not None:
            raise first
