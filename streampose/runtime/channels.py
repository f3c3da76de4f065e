"""Channels between stages: what a stage asks for (specs) and what it gets (:class:`Channels`).

A stage class declares its output channels as specs (:class:`RingSpec` for bulk data in
shared memory, :class:`QueueSpec` for small records, :class:`DoorbellSpec` for a
semaphore, :class:`CountSpec` for a shared count of finished peers, :class:`ArraySpec`
for a small shared array of the latest values, e.g. tracked boxes);
:class:`streampose.runtime.topology.Topology` creates them through the supervisor and
hands every stage a :class:`StageChannels`: a view of the run's :class:`Channels` that
holds only the channels its step declares (:class:`UndeclaredChannelError` for any
other), by their declared name (``"inputs"``) or, for an indexed one (``frames[stream]``),
by name and index. Names are composed here alone (:func:`channel_name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from streampose.transport.codec import HeaderCodec

__all__ = ["ArraySpec", "ChannelSpec", "Channels", "CountSpec", "DoorbellSpec", "QueueSpec",
           "RingSpec", "StageChannels", "UndeclaredChannelError", "Wiring", "channel_name",
           "declared_name", "last_to_finish"]

Run = TypeVar("Run")


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


@dataclass(frozen=True)
class ArraySpec:
    """A small shared array of ``length`` float64 values, starting at 0, with a lock: the
    latest of something one stage writes and another reads (no queue, no history)."""

    name: str
    length: int


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


ChannelSpec = RingSpec | QueueSpec | DoorbellSpec | CountSpec | ArraySpec


class UndeclaredChannelError(LookupError):
    """A stage asked for (or made) a channel its topology step does not declare."""


def channel_name(base: str, index: int | None = None) -> str:
    """The run's name of a declared channel: ``inputs``, or ``frames3`` for index 3."""
    return base if index is None else f"{base}{index}"


_DECLARED = re.compile(r"^(?P<base>[a-z_]+)(?P<indexed>\[[a-z_]+\])?$")


def declared_name(declared: str) -> tuple[str, bool]:
    """``"frames[stream]"`` -> ``("frames", True)``; ``"inputs"`` -> ``("inputs", False)``."""
    found = _DECLARED.match(declared)
    if found is None:
        raise ValueError(f"{declared!r} is not a channel declaration (name or name[index])")
    return found["base"], found["indexed"] is not None


class StageChannels:
    """One stage's channels: those its step declares it reads or writes, no others.

    ``channels`` is None while only output specs are named (before anything is made).
    """

    def __init__(self, *, owner: str, reads: Iterable[str], writes: Iterable[str],
                 channels: Channels | None = None) -> None:
        self.owner = owner
        self.declared = tuple(dict.fromkeys((*reads, *writes)))
        self._reads = dict(declared_name(d) for d in reads)
        self._writes = dict(declared_name(d) for d in writes)
        self._channels = channels

    def name(self, base: str, index: int | None = None) -> str:
        """The name of an output channel this stage declares it writes (for its spec)."""
        self._check(base, index, self._writes, "write")
        return channel_name(base, index)

    def __getitem__(self, base: str) -> Any:
        """A declared channel that is not indexed: ``channels["inputs"]``."""
        return self._get(base, None)

    def at(self, base: str, index: int) -> Any:
        """A declared indexed channel: ``channels.at("frames", 2)`` is ``frames[stream]``
        for stream 2."""
        return self._get(base, index)

    def group(self, base: str) -> list[Any]:
        """Every channel of a declared indexed name, in index order."""
        self._check(base, 0, {**self._writes, **self._reads}, "read")
        return self._made().group(base)

    def _get(self, base: str, index: int | None) -> Any:
        self._check(base, index, {**self._writes, **self._reads}, "read")
        return self._made()[channel_name(base, index)]

    def _made(self) -> Channels:
        if self._channels is None:
            raise RuntimeError(f"{self.owner}: no channels are made yet (only named)")
        return self._channels

    def _check(self, base: str, index: int | None, declared: dict[str, bool],
               verb: str) -> None:
        if base not in declared:
            raise UndeclaredChannelError(
                f"{self.owner} does not declare that it {verb}s channel {base!r} "
                f"(declared: {', '.join(self.declared) or 'none'}); add it to its Step")
        if declared[base] != (index is not None):
            form = f"{base}[index]" if declared[base] else base
            raise UndeclaredChannelError(f"{self.owner}: channel {base!r} is declared as "
                                         f"{form!r}: ask for it "
                                         f"{'with' if declared[base] else 'without'} an index")


@dataclass(frozen=True)
class Wiring(Generic[Run]):
    """What a stage is built with beside the run plan: its channels, and the run's shared
    state (statistics, console link...: made when the run starts)."""

    channels: StageChannels
    run: Run
