"""The live status on a terminal, drawn by ``rich``: a table with one row per stream
(camera, state, fps in/out, every shared counter but the work-item counts, latency
p50/p95), the stages' load, and an optional progress line above. The work-item counts
(frames inferred, items, frames skipped) and the motion-region counts are left to the
summary, the metrics and the console: the table is wide enough already.

The table fits the terminal's width by design, never by cutting a word: counters not in
use in the run are left out by the caller (``hidden``: MQTT drops without ``--mqtt``,
events without rules, ...); on a narrow terminal the headers and states take their
fixed short forms (:data:`SHORT_TITLES`, :data:`SHORT_STATES`: ``reconnects`` ->
``reconn``, ``finished`` -> ``done``), then the least needed columns go
(:data:`DROP_ORDER`).

``status_table`` builds the renderable from plain data (the dicts of a
``MetricsSnapshot``); ``StatusDisplay`` redraws it in place at most once per interval, and
does nothing when its stream is not a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.table import Table
from rich.text import Text

from streampose.lifecycle import Resource
from streampose.observe.camera_state import (
    FINISHED,
    OFFLINE,
    ONLINE,
    RECONNECTING,
    STALLED,
    STARTING,
)
from streampose.observe.counters import FIELDS, ITEM_FIELDS, MOTION_FIELDS

__all__ = ["DROP_ORDER", "SHORT_STATES", "SHORT_TITLES", "StatusDisplay", "StreamTable",
           "stage_line", "status_table"]

_RATE_FIELDS = ("frames_in", "frames_out")  # shown as rates, not as counts
# left to the summary, the metrics and the console, like the work-item counts
_SUMMARY_ONLY = ("rescaled",)
_STATE_STYLE = {ONLINE: "green", RECONNECTING: "yellow", OFFLINE: "red", STALLED: "red",
                FINISHED: "blue"}
# column key -> its full title; a counter's title is its name
_TITLES = {"camera": "camera", "state": "state", "fps_in": "in fps", "fps_out": "out fps",
           "latency_p50": "lat p50", "latency_p95": "lat p95"}
# the short forms for a narrow terminal: whole words or fixed abbreviations
SHORT_TITLES = {"fps_in": "in/s", "fps_out": "out/s", "dropped": "drop",
                "reconnects": "reconn", "mqtt_dropped": "mqtt drop",
                "decode_errors": "errors", "latency_p50": "p50", "latency_p95": "p95"}
SHORT_STATES = {STARTING: "start", ONLINE: "on", RECONNECTING: "retry", STALLED: "stall",
                OFFLINE: "off", FINISHED: "done"}
# what goes first when even the short forms are too wide
_UNBOUNDED = 100_000
DROP_ORDER = ("latency_p50", "carried", "events", "mqtt_dropped", "decode_errors",
              "reconnects", "fps_in")


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
                 header: str | None = None, hidden: Collection[str] = ()) -> RenderableType:
    """The status as one renderable: ``header`` (e.g. a progress bar), the stream table
    (:class:`StreamTable`, without the counters in ``hidden``), the stage line. Stream
    keys: ``stream``, ``camera``, ``state``, ``fps_in``, ``fps_out``, the counters of
    ``FIELDS`` (but ``ITEM_FIELDS``, ``MOTION_FIELDS``), ``latency_p50``/``latency_p95``."""
    counters = [name for name in FIELDS
                if name not in (*_RATE_FIELDS, *ITEM_FIELDS, *MOTION_FIELDS, *_SUMMARY_ONLY)
                and name not in hidden]
    parts: list[RenderableType] = [] if header is None else [Text(header)]
    if streams:
        parts.append(StreamTable(streams=streams, counters=counters))
    if stages:
        parts.append(Text(stage_line(stages)))
    return Group(*parts)


@dataclass(frozen=True)
class StreamTable:
    """One row per stream, at the widest layout that fits the console's width: full
    titles and states, else their short forms, else the short forms without the columns
    of :data:`DROP_ORDER`, one by one (the last layout is drawn whatever its width)."""

    streams: Sequence[Mapping[str, Any]]
    counters: Sequence[str]

    @property
    def keys(self) -> list[str]:
        return ["camera", "state", "fps_in", "fps_out", *self.counters, "latency_p50",
                "latency_p95"]

    def layouts(self) -> Iterator[Table]:
        """The tables to try, widest first."""
        keys = self.keys
        yield self.table(keys, short=False)
        yield self.table(keys, short=True)
        for key in DROP_ORDER:
            if key in keys:
                keys = [k for k in keys if k != key]
                yield self.table(keys, short=True)

    def table(self, keys: Sequence[str], *, short: bool) -> Table:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for key in keys:
            title = SHORT_TITLES.get(key, _TITLES.get(key, key)) if short else \
                _TITLES.get(key, key)
            table.add_column(title, justify="left" if key in ("camera", "state") else "right",
                             overflow="fold")
        for stream in self.streams:
            table.add_row(*(_cell(stream, key, short) for key in keys))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        unbounded = options.update_width(_UNBOUNDED)  # a measure is clamped to the width
        chosen: Table | None = None
        for chosen in self.layouts():
            if console.measure(chosen, options=unbounded).maximum <= options.max_width:
                break
        assert chosen is not None
        yield chosen


def _cell(stream: Mapping[str, Any], key: str, short: bool) -> RenderableType:
    if key == "camera":
        return _name(stream)
    if key == "state":
        state = str(stream.get("state", ""))
        shown = SHORT_STATES.get(state, state) if short else state
        return Text(shown, style=_STATE_STYLE.get(state, ""))
    if key in ("fps_in", "fps_out"):
        return f"{float(stream.get(key, 0.0)):.1f}"
    if key in ("latency_p50", "latency_p95"):
        return _latency(stream.get(key))
    return str(stream.get(key, 0))


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
