"""Live add and remove: the cameras file watched, its difference applied to the seats.

:class:`CameraAssigner` runs in the parent, on the supervisor's tick. It re-reads the
cameras file when its modification time changes (checked at most every
:data:`POLL_S`) or when asked (SIGHUP: :meth:`CameraAssigner.request`), and applies the
difference by camera name to the :class:`~streampose.cameras.seats.SeatTable`:

- a camera no longer in the file is taken off its seat at once (its decoder stops it,
  render closes its recording, the seat is drained);
- a new camera waits for a free seat (one with no camera, every frame out), then gets it;
- a camera whose URL or options changed is removed and added again.

The other tables of the file (model, batching, outputs, ...) are read at start only: a
change to them is logged as needing a restart. A file that does not load (a mistake
while editing it) is one error in the log, and the cameras stay as they are.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from streampose.cameras.seats import SeatTable
from streampose.config.camera import Camera
from streampose.config.cameras_file import load_cameras
from streampose.errors import ConfigError

__all__ = ["POLL_S", "CameraAssigner"]

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the file's modification time is looked at


class CameraAssigner:
    """Seat -> camera for a run whose cameras come and go (see the module doc).

    ``on_change(seat, name)`` is called when a seat's camera changes (``""``: none), so
    the parent's views (statistics, MQTT status, console) follow it. ``counts(seat)``:
    the seat's counters now; each camera's share is what they grew by while it was
    there (from its assignment to its seat being drained): :meth:`camera_counts`.
    """

    def __init__(self, table: SeatTable, *, path: Path | None = None,
                 on_change: Callable[[int, str], None] | None = None,
                 counts: Callable[[int], dict[str, int]] | None = None) -> None:
        self.table, self.path, self.on_change = table, path, on_change
        self.counts = counts
        self._base: dict[int, dict[str, int]] = {}  # seat -> its counters at assignment
        self._done: list[list[dict[str, object]]] = [[] for _ in range(table.seats)]
        self.seat_of: dict[str, int] = {}  # cameras on a seat (or leaving it)
        self.cameras: dict[str, Camera] = {}
        self.pending: list[Camera] = []  # wanted, waiting for a free seat
        self.history: list[list[str]] = [[] for _ in range(table.seats)]  # names per seat
        self._leaving: dict[int, str] = {}  # seat -> camera whose frames still drain
        self._settings: dict[str, object] | None = None
        if path is not None:
            with contextlib.suppress(ConfigError):  # read by the run a moment ago
                self._settings = load_cameras(path).settings
        self._mtime = self._stat()
        self._requested = False
        self._next_poll = 0.0
        self._warned: set[str] = set()

    def start(self, cameras: tuple[Camera, ...]) -> None:
        """The first cameras, before any stage runs."""
        self._apply(cameras)

    def request(self) -> None:
        """Re-read the file at the next tick (SIGHUP; safe in a signal handler)."""
        self._requested = True

    def tick(self, now: float | None = None) -> None:
        """Re-read the file if it changed or was asked for; hand free seats out."""
        now = time.monotonic() if now is None else now
        if self.path is not None and (self._requested or now >= self._next_poll):
            self._next_poll = now + POLL_S
            mtime = self._stat()
            if self._requested or mtime != self._mtime:
                self._requested, self._mtime = False, mtime
                self._reload()
        self._place()

    @property
    def names(self) -> list[str]:
        """Each seat's camera now (``""``: none)."""
        names = [""] * self.table.seats
        for name, seat in self.seat_of.items():
            names[seat] = name
        return names

    def camera_counts(self) -> list[list[dict[str, object]]]:
        """Per seat, each camera it carried (in order) with its share of the seat's
        counters (``{"camera": name, "frames_in": ...}``); the cameras still there (or
        still draining) counted up to now."""
        out = [list(done) for done in self._done]
        for name, seat in self.seat_of.items():
            out[seat].append(self._share(seat, name))
        for seat, name in self._leaving.items():
            out[seat].append(self._share(seat, name))
        return out

    def _share(self, seat: int, name: str) -> dict[str, object]:
        if self.counts is None:
            return {"camera": name}
        now, base = self.counts(seat), self._base.get(seat, {})
        return {"camera": name, **{k: v - base.get(k, 0) for k, v in now.items()}}

    # -- internals ---------------------------------------------------------------------

    def _stat(self) -> float | None:
        if self.path is None:
            return None
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def _reload(self) -> None:
        assert self.path is not None
        try:
            cf = load_cameras(self.path)
        except ConfigError as exc:
            log.error("cameras file not applied (the cameras stay as they are): %s", exc)
            return
        if self._settings is not None and cf.settings != self._settings:
            log.warning("%s: only the [[camera]] tables are applied while running; the other "
                        "tables take effect at the next start", self.path)
            self._settings = cf.settings
        files = [c.name for c in cf.cameras if not c.is_live]
        if files:
            log.error("cameras file not applied: %s %s a file; cameras added while the run "
                      "goes on are live cameras", ", ".join(map(repr, files)),
                      "is" if len(files) == 1 else "are")
            return
        log.info("cameras file changed: applying it")
        self._apply(cf.cameras)

    def _apply(self, wanted: tuple[Camera, ...]) -> None:
        by_name = {c.name: c for c in wanted}
        for name in list(self.cameras):
            if by_name.get(name) != self.cameras[name]:
                self._remove(name)
        self.pending = [c for c in wanted if c.name not in self.seat_of]
        self.cameras = by_name
        self._place()

    def _remove(self, name: str) -> None:
        self.cameras.pop(name)
        seat = self.seat_of.pop(name, None)
        if seat is None:
            self.pending = [c for c in self.pending if c.name != name]
            return
        self.table.release(seat)
        self._leaving[seat] = name
        log.warning("camera %r removed from stream %d", name, seat)
        if self.on_change is not None:
            self.on_change(seat, "")

    def _place(self) -> None:
        for seat in list(self._leaving):
            if self.table.is_free(seat):
                name = self._leaving.pop(seat)
                self._done[seat].append(self._share(seat, name))
                log.info("stream %d: camera %r drained", seat, name)
        while self.pending:
            free = next((s for s in range(self.table.seats)
                         if s not in self.seat_of.values() and self.table.is_free(s)), None)
            if free is None:
                camera = self.pending[0]
                if not self._leaving and camera.name not in self._warned:
                    self._warned.add(camera.name)
                    log.error("camera %r waits: all %d seats are taken (--max-streams)",
                              camera.name, self.table.seats)
                return
            camera, seat = self.pending.pop(0), free
            if self.counts is not None:
                self._base[seat] = self.counts(seat)
            self.table.assign(seat, camera)
            self.seat_of[camera.name] = seat
            self.history[seat].append(camera.name)
            self._warned.discard(camera.name)
            log.warning("camera %r added on stream %d", camera.name, seat)
            if self.on_change is not None:
                self.on_change(seat, camera.name)
