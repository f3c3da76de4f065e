"""The live status on a terminal, drawn by ``rich``: a table with one row per stream
(camera, state, fps in/out, every shared counter but the work-item counts, latency
p50/p95), the stages' load, and an optional progress line above. The work-item counts
(frames inferred, items, frames skipped) and the motion-region counts are left to the
summary, the metrics and the console: the table is wide enough already.

``status_table`` builds the renderable from plain data (the dicts of a
``MetricsSnapshot``); ``StatusDisplay`` redraws it in place at most once per interval, and
does nothing when its stream is not a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from streampose.lifecycle import Resource
from streampose.observe.camera_state import FINISHED, OFFLINE, ONLINE, RECONNECTING, STALLED
from streampose.observe.counters import FIELDS, ITEM_FIELDS, MOTION_FIELDS

__all__ = ["StatusDisplay", "stage_line", "status_table"]

_RATE_FIELDS = ("frames_in", "frames_out")  # shown as rates, not as counts
_STATE_STYLE = {ONLINE: "green", RECONNECTING: "yellow", OFFLINE: "red", STALLED: "red",
                FINISHED: "blue"}


def _latency(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _name(stream: Mapping[str, Any]) -> str:
    return str(stream.get("camera") or f"stream{stream.get('stream', '?')}")


def stage_line(stages: Sequence[Mapping[str, Any]]) -> str:
    """``busy  decode0 35%  infer 92%  render 20%`` (busy fraction over the last interval)."""
    loads = [f"{s['stage']} {100 * float(s.get('busy_ratio', 0.0)):.0f}%" for s in stages]
    return "  ".join(["busy", *loads])


def status_table(*, streams: Sequence[Mapping[str, Any]],
                 stages: Sequence[Mapping[str, Any]] = (),
                 header: str | None = None) -> RenderableType:
    """The status as one renderable: ``header`` (e.g. a progress bar), the stream table,
    the stage line. Stream keys: ``stream``, ``camera``, ``state``, ``fps_in``,
    ``fps_out``, the counters of ``FIELDS`` (but ``ITEM_FIELDS``, ``MOTION_FIELDS``),
    ``latency_p50``/``latency_p95``."""
    hidden = (*_RATE_FIELDS, *ITEM_FIELDS, *MOTION_FIELDS)
    counters = [name for name in FIELDS if name not in hidden]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for title in ("camera", "state", "in fps", "out fps", *counters, "lat p50", "lat p95"):
        table.add_column(title, justify="left" if title in ("camera", "state") else "right")
    for s in streams:
        state = str(s.get("state", ""))
        table.add_row(_name(s), Text(state, style=_STATE_STYLE.get(state, "")),
                      f"{float(s.get('fps_in', 0.0)):.1f}", f"{float(s.get('fps_out', 0.0)):.1f}",
                      *(str(s.get(name, 0)) for name in counters),
                      _latency(s.get("latency_p50")), _latency(s.get("latency_p95")))
    parts: list[RenderableType] = [] if header is None else [Text(header)]
    if streams:
        parts.append(table)
    if stages:
        parts.append(Text(stage_line(stages)))
    return Group(*parts)


class StatusDisplay(Resource):
    """Redraws a renderable in place on a terminal, at most once per ``interval_s``.

    ``update(renderable)`` may be called as often as wanted; one arriving between redraws
    is drawn by the next redraw or by ``close()``, which leaves the last one on screen.
    Nothing is written when ``stream`` is not a TTY (``active`` is False) unless
    ``force_tty``.
    """

    def __init__(self, *, stream: TextIO | None = None, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 force_tty: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.interval_s, self._clock = interval_s, clock
        self.console = Console(file=self.stream, force_terminal=force_tty)
        self.active = self.console.is_terminal
        self._live: Live | None = None
        self._last_draw: float | None = None
        self._pending: RenderableType | None = None
        self._closed = False

    def open(self) -> None:
        """Nothing to acquire: the display starts drawing on its first ``update``."""

    def update(self, renderable: RenderableType) -> None:
        """Show ``renderable``: now if the last redraw is ``interval_s`` old, else later."""
        if not self.active or self._closed:
            return
        self._pending = renderable
        now = self._clock()
        if self._last_draw is None or now - self._last_draw >= self.interval_s:
            self._redraw()
            self._last_draw = now

    def close(self) -> None:
        """Draw what is pending and leave it on screen; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.active:
            self._redraw()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _redraw(self) -> None:
        if self._pending is None:
            return
        renderable, self._pending = self._pending, None
        if self._live is None:
            self._live = Live(renderable, console=self.console, auto_refresh=False,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.start(refresh=True)
        else:
            self._live.update(renderable, refresh=True)
