"""The control records between the supervisor and its stage processes.

:class:`StageControl` is what every stage process gets: the stop events, the queues for
error and final reports, live statistics and the count of opened stages. The stage
runner sends an :class:`ErrorReport` when a stage raises and a :class:`StageReport` when
it ends. Every field is typed (no ``Any``): these values steer every process.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from streampose.observe.stats import StageStats

__all__ = ["ErrorReport", "Flag", "Outbox", "SharedCount", "StageControl", "StageReport"]


class Flag(Protocol):
    """An event (threading or multiprocessing)."""

    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class Outbox(Protocol):
    """The sending end of a queue (threading or multiprocessing)."""

    def put(self, obj: object, block: bool = ..., timeout: float | None = ...) -> None: ...


class SharedCount(Protocol):
    """A shared integer with its lock (``multiprocessing.Value("i")``)."""

    value: int

    def get_lock(self) -> AbstractContextManager[object]: ...


@dataclass
class StageControl:
    """What the supervisor hands every stage process (multiprocessing primitives)."""

    stop: Flag  # hard stop, leave the loop now
    stop_sources: Flag  # sources end their streams, the rest drains
    errors: Outbox  # of ErrorReport
    reports: Outbox  # of StageReport
    parent_pid: int
    log_level: int = logging.WARNING
    stats: StageStats | None = None  # live items/busy per stage, read by the parent
    opened: SharedCount | None = None  # stages whose open() succeeded (live waits for all)
    stages: int = 0

    def all_open(self) -> bool:
        return self.opened is None or self.opened.value >= self.stages


@dataclass(frozen=True)
class ErrorReport:
    stage: str
    kind: str
    message: str
    traceback: str
    exit_code: int = 6


@dataclass(frozen=True)
class StageReport:
    stage: str
    pid: int
    items: int
    busy_s: float
    wall_s: float
    extra: dict[str, object] = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU time of the process (all its threads) from open() to close()

    @property
    def busy(self) -> float:
        return self.busy_s / self.wall_s if self.wall_s > 0 else 0.0
