"""A pipeline's shape as data: steps, and the channels between them.

A :class:`Topology` is a short list of :class:`Step` s, read left to right like a
GStreamer launch line (``describe()`` prints it that way)::

    decode[stream] -> frames[stream] -> preprocess[shard] -> inputs -> infer[worker]
        -> maps -> postprocess[worker] -> results[shard] -> render[shard]

Each step names the stage class, every channel it reads and writes, and how many copies
run: one, one per stream, or as many as the plan's count for its ``per`` (workers,
shards). The declaration is the wiring: the stage class owns its output channels (its
``outputs(plan, channels, index)`` gives their specs, named through ``channels`` and
sized by :mod:`streampose.planning.capacity`), and its ``build(plan, wiring, index)``
makes the stage object from the run plan, the run's shared state (``wiring.run``) and
``wiring.channels``: a view holding exactly the channels its step declares.
:meth:`Topology.build` creates every channel through the supervisor (which owns and
unlinks shared memory), then every stage; a stage that makes or asks for a channel its
step does not declare, or a step that reads what no step writes, stops the build
(:class:`~streampose.runtime.channels.UndeclaredChannelError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streampose.runtime.channels import (
    ArraySpec,
    Channels,
    ChannelSpec,
    CountSpec,
    QueueSpec,
    RingSpec,
    StageChannels,
    UndeclaredChannelError,
    Wiring,
    declared_name,
)
from streampose.runtime.stage import Stage
from streampose.transport.codec import HeaderCodec

__all__ = ["Step", "Topology"]


class Maker(Protocol):
    """What creates channels: the supervisor."""

    ctx: Any

    def ring(self, *, name: str, slots: int, slot_bytes: int, codec: HeaderCodec,
             policy: str = "block") -> Any: ...



@dataclass(frozen=True)
class Step:
    """One stage of the pipeline: ``stage`` reads ``reads`` and writes ``writes``.

    ``per``: ``None`` (one stage), ``"stream"`` (one per source), or another name the
    plan counts (``"worker"``, ``"infer_worker"``, ``"render_shard"``...); a ``per``
    starting with the stage's kind is shown without it (``render[shard]``).
    ``[stream]`` / ``[shard]`` in a channel name stands for an index. Signals (doorbells,
    ``*_done`` end-of-work counts, the ``tracked`` boards going back up the pipeline) are
    declared like any channel but not shown by :meth:`Topology.describe`.
    """

    stage: type[Stage]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    per: str | None = None

    @property
    def label(self) -> str:
        name = getattr(self.stage, "kind", self.stage.__name__)
        return f"{name}[{self.per.removeprefix(name + '_')}]" if self.per else name


class Topology:
    """Steps in data-flow order; see the module docstring."""

    def __init__(self, steps: Sequence[Step], *, counts: Callable[[str], int]) -> None:
        """``counts(per)``: how many stages a ``per`` step has (streams, workers)."""
        self.steps = tuple(steps)
        self._counts = counts
        self.channels: Channels | None = None  # made by build()

    def describe(self) -> str:
        """The pipeline as one launch line: ``decode[stream] -> frames[stream] -> ...``;
        only the channels between steps (not a channel the calling program reads)."""
        read = {declared_name(d)[0] for step in self.steps for d in step.reads}
        parts: list[str] = []
        for step in self.steps:
            parts.append(step.label)
            parts += [name for name in step.writes
                      if not _is_signal(name) and declared_name(name)[0] in read]
        return " -> ".join(parts)

    def layout(self) -> dict[str, int]:
        """How many processes each stage kind has: ``{"decode": 2, "infer": 1, ...}``."""
        found: dict[str, int] = {}
        for step in self.steps:
            kind = getattr(step.stage, "kind", step.stage.__name__)
            found[kind] = found.get(kind, 0) + len(self.indices(step))
        return found

    def indices(self, step: Step) -> range:
        return range(self._counts(step.per)) if step.per else range(1)

    def ring_bytes(self, plan: Any) -> int:
        """Bytes of shared memory the rings of ``plan`` take (slots x slot size, each
        ring once): what :meth:`build` will allocate, known before it does."""
        rings: dict[str, RingSpec] = {}
        for step, index in self._instances():
            for spec in self._outputs(step, plan, index):
                if isinstance(spec, RingSpec):
                    rings.setdefault(spec.name, spec)
        return sum(spec.slots * spec.slot_bytes for spec in rings.values())

    def build(self, maker: Maker, plan: Any, run: Any = None) -> list[Stage]:
        """Create every declared channel (through ``maker``), then every stage, each
        wired to its own channels and the run's shared state ``run``; the channels stay
        in :attr:`channels` (the calling program reads its own there)."""
        channels = self.channels = Channels()
        for step, index in self._instances():
            for spec in self._outputs(step, plan, index):
                if spec.name not in channels:
                    channels.add(spec.name, _make(maker, spec))
        self._check_reads(channels)
        return [step.stage.build(plan, Wiring(channels=_view(step, channels), run=run), index)
                for step, index in self._instances()]

    def _outputs(self, step: Step, plan: Any, index: int) -> list[ChannelSpec]:
        """The specs of one stage's outputs, each one a channel its step writes."""
        specs = list(step.stage.outputs(plan, _view(step), index))
        written = {declared_name(d)[0] for d in step.writes}
        for spec in specs:
            found = _MADE.match(spec.name)
            if found is None or found["base"] not in written:
                raise UndeclaredChannelError(f"{step.label} makes channel {spec.name!r}, "
                                             "which its step does not declare it writes")
        return specs

    def _check_reads(self, channels: Channels) -> None:
        for step in self.steps:
            for declared in step.reads:
                base, indexed = declared_name(declared)
                if not (channels.group(base) if indexed else base in channels):
                    raise UndeclaredChannelError(f"{step.label} reads {declared!r}, "
                                                 "which no step writes")

    def _instances(self) -> Iterator[tuple[Step, int]]:
        for step in self.steps:
            for index in self.indices(step):
                yield step, index


_MADE = re.compile(r"^(?P<base>[a-z_]+?)\d*$")


def _is_signal(declared: str) -> bool:
    return (declared.startswith(("doorbell", "tracked")) or declared.endswith("_done"))


def _view(step: Step, channels: Channels | None = None) -> StageChannels:
    """What one stage of ``step`` may use: its declared channels (only their names
    while ``channels`` is None)."""
    return StageChannels(owner=step.label, reads=step.reads, writes=step.writes,
                         channels=channels)


def _make(maker: Maker, spec: ChannelSpec) -> Any:
    if isinstance(spec, RingSpec):
        return maker.ring(name=spec.name, slots=spec.slots, slot_bytes=spec.slot_bytes,
                          codec=spec.codec, policy=spec.policy)
    if isinstance(spec, QueueSpec):
        return maker.ctx.Queue(maxsize=spec.maxsize)
    if isinstance(spec, CountSpec):
        return maker.ctx.Value("i", 0)
    if isinstance(spec, ArraySpec):
        return maker.ctx.Array("d", spec.length)
    return maker.ctx.Semaphore(0)
