"""The parent's side of the events: drained from the render process, kept a little while.

:meth:`EventHub.pump` (on the supervisor's tick) empties the bounded queue the console
sinks fill, numbers each event, keeps the last ``history`` events with their thumbnails,
counts them by stream and type, and hands the new ones to the subscribers (the server's
SSE clients). Memory is bounded by ``history`` whatever arrives.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from streampose.console.link import ConsoleLink

__all__ = ["EventHub"]

log = logging.getLogger(__name__)

HISTORY = 50
PUMP_MAX = 1000  # events taken per pump at most (the queue holds far fewer)


class EventHub:
    """Recent events, their thumbnails and counts; thread-safe."""

    def __init__(self, link: ConsoleLink, *, history: int = HISTORY) -> None:
        self.link = link
        self._recent: deque[tuple[dict[str, Any], bytes]] = deque(maxlen=history)
        self._counts: Counter[tuple[int, str, str]] = Counter()
        self._next_id = 0
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """``callback(record)`` for every new event (called on the pumping thread)."""
        with self._lock:
            self._subscribers.append(callback)

    def pump(self) -> int:
        """Take what the render process sent; returns how many events arrived."""
        taken: list[dict[str, Any]] = []
        for _ in range(PUMP_MAX):
            try:
                stream, record, thumb = self.link.events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                break
            taken.append(self._keep(int(stream), dict(record), bytes(thumb)))
        with self._lock:
            subscribers = list(self._subscribers)
        for record in taken:
            for callback in subscribers:
                callback(record)
        return len(taken)

    def _keep(self, stream: int, record: dict[str, Any], thumb: bytes) -> dict[str, Any]:
        with self._lock:
            record["id"] = self._next_id
            record["stream"] = stream
            record["thumbnail"] = f"/api/events/{self._next_id}.jpg" if thumb else None
            self._next_id += 1
            self._recent.append((record, thumb))
            self._counts[(stream, str(record.get("camera", "")), str(record.get("type", "")))] += 1
        return record

    def recent(self) -> list[dict[str, Any]]:
        """The last events, oldest first."""
        with self._lock:
            return [record for record, _ in self._recent]

    def thumbnail(self, event_id: int) -> bytes | None:
        """The JPEG thumbnail of a recent event, or None (unknown, forgotten or none)."""
        with self._lock:
            for record, thumb in self._recent:
                if record["id"] == event_id:
                    return thumb or None
        return None

    def counts(self) -> dict[tuple[int, str, str], int]:
        """Events so far by ``(stream, camera, type)``."""
        with self._lock:
            return dict(self._counts)

    def dropped(self) -> list[int]:
        """Per stream: events lost because the queue to the parent was full."""
        return [int(self.link.dropped_events[i]) for i in range(self.link.streams)]
