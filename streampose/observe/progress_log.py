"""Progress as plain lines, for a run whose output is not a terminal (a pipe, a log file,
a service's journal): one line every ``every_s`` seconds, where a terminal gets the live
status table (:mod:`streampose.observe.terminal`).

``progress_line`` formats one :class:`~streampose.observe.summary.Progress`;
``ProgressLog`` is the ``on_progress`` callback that writes it at most once per interval.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from streampose.observe.summary import Progress

__all__ = ["ProgressLog", "progress_line"]


def progress_line(progress: Progress) -> str:
    """``streampose: 20 s, 183/795 frames out (23%), 9.1 fps, 0 dropped; cam0 online``:
    frames out of the total when every total is known, fps over the run so far, and each
    stream's camera state when the live figures have them."""
    done = sum(s.get("frames_out", 0) for s in progress.streams)
    dropped = sum(s.get("dropped", 0) for s in progress.streams)
    fps = done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
    return (f"streampose: {progress.elapsed_s:.0f} s, {_frames(done, progress.totals)}, "
            f"{fps:.1f} fps, {dropped} dropped{_states(progress)}")


def _frames(done: int, totals: list[int | None]) -> str:
    if not totals or any(t is None for t in totals):
        return f"{done} frames out"
    total = sum(t for t in totals if t is not None)
    share = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{done}/{total} frames out{share}"


def _states(progress: Progress) -> str:
    streams = progress.live.streams if progress.live is not None else []
    shown = [f"{s.get('camera') or 'stream' + str(s.get('stream', '?'))} {s['state']}"
             for s in streams if s.get("state")]
    return "; " + ", ".join(shown) if shown else ""


class ProgressLog:
    """Writes :func:`progress_line` to ``stream`` every ``every_s`` seconds (the first
    after ``every_s``: a short run prints only its summary). ``every_s`` 0 writes nothing."""

    def __init__(self, *, every_s: float, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self._clock = every_s, clock
        self.stream = sys.stderr if stream is None else stream
        self._next: float | None = None

    def __call__(self, progress: Progress) -> None:
        if self.every_s <= 0:
            return
        now = self._clock()
        if self._next is None:
            self._next = now + self.every_s
        elif now >= self._next:
            print(progress_line(progress), file=self.stream, flush=True)
            self._next += self.every_s
            if self._next <= now:  # ticks came late: the next line a full interval on
                self._next = now + self.every_s

    def finish(self) -> None:
        """Nothing to leave behind: the run's summary line follows."""
