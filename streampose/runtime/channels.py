"""Channels between stages: what a stage asks for (specs) and what it gets (:class:`Channels`).

A stage class declares its output channels as specs (:class:`RingSpec` for bulk data in
shared memory, :class:`QueueSpec` for small records, :class:`DoorbellSpec` for a
semaphore, :class:`CountSpec` for a shared count of finished peers);
:class:`streampose.runtime.topology.Topology` creates them through the
supervisor and hands every stage the :class:`Channels` by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streampose.transport.codec import HeaderCodec

__all__ = ["ChannelSpec", "Channels", "CountSpec", "DoorbellSpec", "QueueSpec", "RingSpec",
           "last_to_finish"]


@dataclass(frozen=True)
class RingSpec:
    """A shared-memory ring of ``slots`` slots of ``slot_bytes`` bytes."""

    name: str
    slots: int
    slot_bytes: int
    codec: HeaderCodec
    policy: str = "block"


@dataclass(frozen=True)
class QueueSpec:
    """A multiprocessing queue for small records."""

    name: str
    maxsize: int


@dataclass(frozen=True)
class DoorbellSpec:
    """A counting semaphore producers ring after each item (a consumer of many rings waits
    on it instead of polling each)."""

    name: str


@dataclass(frozen=True)
class CountSpec:
    """A shared integer, starting at 0, that peers of one step count their ends on: the
    last to finish (:func:`last_to_finish`) tells the next step that all input is in."""

    name: str


def last_to_finish(count: Any, peers: int) -> bool:
    """Count one more finished peer on ``count`` (a ``multiprocessing.Value``, or None when
    there is no other peer): True for the ``peers``-th, the last one."""
    if count is None:
        return True
    with count.get_lock():
        count.value += 1
        return bool(count.value >= peers)


class Channels:
    """The channels of a built topology, by name; ``group("frames")`` gives frames0..N."""

    def __init__(self) -> None:
        self._by_name: dict[str, Any] = {}

    def add(self, name: str, channel: Any) -> None:
        self._by_name[name] = channel

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Any:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no channel {name!r} (have: {', '.join(self._by_name)})") from None

    def group(self, prefix: str) -> list[Any]:
        """Channels ``<prefix>0``, ``<prefix>1``, ... in index order."""
        found: list[Any] = []
        while f"{prefix}{len(found)}" in self._by_name:
            found.append(self._by_name[f"{prefix}{len(found)}"])
        return found


ChannelSpec = RingSpec | QueueSpec | DoorbellSpec | CountSpec
