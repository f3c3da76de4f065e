"""A live multi-line status on a terminal: one line per stream, one line of stage load.

``format_status`` turns plain data into lines; ``StatusDisplay`` redraws them in place
(ANSI cursor movement) at most once a second, and does nothing when its stream is not a
terminal. The stream and stage dicts use the same keys as ``MetricsSnapshot``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from streampose.lifecycle import Resource

log = logging.getLogger(__name__)

MAX_LABEL = 24
_UP = "\x1b[{n}F"       # cursor to the start of the line n lines up
_CLEAR_BELOW = "\x1b[J"  # erase from the cursor to the end of the screen


def short_name(source: str, index: int) -> str:
    """A short label for a source: its last path component, or ``stream<index>``."""
    path = urlsplit(source).path if "://" in source else source
    name = path.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    name = name or f"stream{index}"
    return name if len(name) <= MAX_LABEL else "…" + name[-(MAX_LABEL - 1):]


def _labels(streams: Sequence[Mapping[str, Any]]) -> list[str]:
    labels = [short_name(str(s.get("source", "")), int(s.get("stream", i)))
              for i, s in enumerate(streams)]
    if len(set(labels)) != len(labels):
        labels = [f"{int(s.get('stream', i))}:{label}"
                  for i, (s, label) in enumerate(zip(streams, labels, strict=True))]
    return labels


def _latency(p50: float | None, p95: float | None) -> str:
    if p50 is None or p95 is None:
        return "lat -"
    return f"lat p50 {p50:.2f} s p95 {p95:.2f} s"


def stream_line(label: str, stream: Mapping[str, Any]) -> str:
    """``cam0  in 10.0 fps  out 9.8 fps  dropped 12  lat p50 0.41 s p95 0.80 s``."""
    parts = [label,
             f"in {stream.get('fps_in', 0.0):.1f} fps",
             f"out {stream.get('fps_out', 0.0):.1f} fps",
             f"dropped {stream.get('dropped', 0)}",
             _latency(stream.get("latency_p50"), stream.get("latency_p95"))]
    reconnects = stream.get("reconnects", 0)
    if reconnects:
        parts.append(f"reconnects {reconnects}")
    damaged = stream.get("decode_errors", 0)
    if damaged:
        parts.append(f"decode errors {damaged}")
    return "  ".join(parts)


def stage_line(stages: Sequence[Mapping[str, Any]]) -> str:
    """``busy  decode0 35%  infer 92%  render 20%`` (busy fraction over the last interval)."""
    loads = [f"{s['stage']} {100 * float(s.get('busy_ratio', 0.0)):.0f}%" for s in stages]
    return "  ".join(["busy", *loads])


def format_status(*, streams: Sequence[Mapping[str, Any]],
                  stages: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """One line per stream (labels aligned), then one stage line when ``stages`` is given.

    Stream keys: ``stream``, ``source``, ``fps_in``, ``fps_out``, ``dropped``,
    ``reconnects``, ``latency_p50``, ``latency_p95`` (None: no sample yet).
    Stage keys: ``stage``, ``busy_ratio`` (0..1, busy seconds per wall second).
    """
    labels = _labels(streams)
    width = max((len(label) for label in labels), default=0)
    lines = [stream_line(label.ljust(width), s)
             for label, s in zip(labels, streams, strict=True)]
    if stages:
        lines.append(stage_line(stages))
    return lines


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _columns(stream: TextIO) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None


class StatusDisplay(Resource):
    """Redraws a block of lines in place on a terminal, at most once per ``interval_s``.

    ``update(lines)`` may be called as often as wanted; lines arriving between redraws are
    kept and drawn by the next redraw or by ``close()``, which leaves the last lines on
    screen. Nothing is written when ``stream`` is not a TTY (``active`` is False).
    Nothing else should write to the stream while the display is active. ``open()`` has
    nothing to acquire (the display does not own its stream); ``with StatusDisplay()``
    makes sure the last lines are drawn.
    """

    def __init__(self, *, stream: TextIO | None = None, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 force_tty: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.interval_s = interval_s
        self.active = _is_tty(self.stream) if force_tty is None else force_tty
        self._clock = clock
        self._drawn = 0                    # lines on screen from the last redraw
        self._last_draw: float | None = None
        self._pending: list[str] | None = None
        self._closed = False

    def open(self) -> None:
        """Nothing to acquire: the display draws on its first ``update``."""

    def update(self, lines: Sequence[str]) -> None:
        """Show ``lines``: now if the last redraw is ``interval_s`` old, else at the next."""
        if not self.active or self._closed:
            return
        self._pending = list(lines)
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= self.interval_s:
            self._redraw()
            self._last_draw = now

    def close(self) -> None:
        """Draw any lines not yet shown and leave them there; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.active:
            self._redraw()

    def _redraw(self) -> None:
        if self._pending is None:
            return
        lines, self._pending = self._pending, None
        columns = _columns(self.stream)
        if columns:
            lines = [line[:columns - 1] for line in lines]  # a wrapped line breaks the count
        text = (_UP.format(n=self._drawn) if self._drawn else "\r") + _CLEAR_BELOW
        text += "".join(line + "\n" for line in lines)
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(text)
            self.stream.flush()
        self._drawn = len(lines)
