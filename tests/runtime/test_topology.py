"""Topology: the launch line, channels created once through the maker, stages built per
stream and per worker, each with only its declared channels; Channels by name and by
group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from streampose.runtime.channels import (
    Channels,
    DoorbellSpec,
    QueueSpec,
    RingSpec,
    StageChannels,
    UndeclaredChannelError,
    Wiring,
)
from streampose.runtime.stage import Stage
from streampose.runtime.topology import Step, Topology
from streampose.transport.messages import FRAME_CODEC


@dataclass
class Plan:
    streams: int = 3
    workers: int = 2

    def count(self, per: str) -> int:
        return {"stream": self.streams, "worker": self.workers}[per]


@dataclass
class FakeCtx:
    made: list[tuple[str, Any]] = field(default_factory=list)

    def Queue(self, maxsize: int) -> tuple[str, int]:
        self.made.append(("queue", maxsize))
        return ("queue", maxsize)

    def Semaphore(self, value: int) -> object:
        self.made.append(("semaphore", value))
        return object()


@dataclass
class FakeMaker:
    """What the supervisor does for a topology: make rings (and, via ctx, the rest)."""

    ctx: FakeCtx = field(default_factory=FakeCtx)
    rings: list[dict[str, Any]] = field(default_factory=list)

    def ring(self, **kwargs: Any) -> dict[str, Any]:
        self.rings.append(kwargs)
        return kwargs


class Source(Stage):
    kind = "src"

    @classmethod
    def outputs(cls, plan: Plan, channels: StageChannels, index: int) -> list[Any]:
        return [RingSpec(name=channels.name("frames", index), slots=2 + index, slot_bytes=64,
                         codec=FRAME_CODEC, policy="drop_oldest"),
                DoorbellSpec(name=channels.name("doorbell"))]

    @classmethod
    def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Source:
        channels = wiring.channels
        return cls(ring=channels.at("frames", index), doorbell=channels["doorbell"],
                   index=index)

    def __init__(self, *, ring: Any, doorbell: Any, index: int) -> None:
        super().__init__()
        self.ring, self.doorbell, self.index = ring, doorbell, index


class Middle(Stage):
    kind = "mid"

    @classmethod
    def outputs(cls, plan: Plan, channels: StageChannels, index: int) -> list[Any]:
        return [QueueSpec(name=channels.name("results"), maxsize=4 * plan.streams)]

    @classmethod
    def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Middle:
        channels = wiring.channels
        return cls(frames=channels.group("frames"), doorbell=channels["doorbell"],
                   results=channels["results"])

    def __init__(self, *, frames: list[Any], doorbell: Any, results: Any) -> None:
        super().__init__()
        self.frames, self.doorbell, self.results = frames, doorbell, results


class Sink(Stage):
    kind = "out"

    @classmethod
    def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Sink:
        return cls(results=wiring.channels["results"], index=index, run=wiring.run)

    def __init__(self, *, results: Any, index: int, run: Any = None) -> None:
        super().__init__()
        self.results, self.index, self.run = results, index, run


STEPS = (
    Step(Source, writes=("frames[stream]", "doorbell"), per="stream"),
    Step(Middle, reads=("frames[stream]", "doorbell"), writes=("results",)),
    Step(Sink, reads=("results",), per="worker"),
)


def topology(plan: Plan) -> Topology:
    return Topology(STEPS, counts=plan.count)


def test_describe_reads_like_a_launch_line() -> None:
    assert topology(Plan()).describe() == (
        "src[stream] -> frames[stream] -> mid -> results -> out[worker]")


class Outbound(Sink):
    """A last step that also writes a queue the calling program reads."""

    @classmethod
    def outputs(cls, plan: Plan, channels: StageChannels, index: int) -> list[Any]:
        return [QueueSpec(name=channels.name("caller"), maxsize=2)]


def test_the_launch_line_leaves_out_what_the_calling_program_reads() -> None:
    top = Topology([*STEPS[:2], Step(Outbound, reads=("results",), writes=("caller",),
                                     per="worker")], counts=Plan().count)
    assert top.describe() == "src[stream] -> frames[stream] -> mid -> results -> out[worker]"
    assert top.channels is None
    top.build(FakeMaker(), Plan())
    assert top.channels is not None and top.channels["caller"] == ("queue", 2)  # made once


def test_steps_run_once_per_stream_or_worker() -> None:
    top = topology(Plan(streams=3, workers=2))
    assert [top.indices(step) for step in STEPS] == [range(3), range(1), range(2)]
    assert [step.label for step in STEPS] == ["src[stream]", "mid", "out[worker]"]


def test_layout_counts_the_processes_of_each_kind() -> None:
    assert topology(Plan(streams=3, workers=2)).layout() == {"src": 3, "mid": 1, "out": 2}


def test_build_makes_every_channel_once_then_every_stage() -> None:
    maker, plan = FakeMaker(), Plan(streams=3, workers=2)
    stages = topology(plan).build(maker, plan)
    assert [type(s).__name__ for s in stages] == ["Source"] * 3 + ["Middle"] + ["Sink"] * 2
    assert maker.rings == [
        {"name": f"frames{i}", "slots": 2 + i, "slot_bytes": 64, "codec": FRAME_CODEC,
         "policy": "drop_oldest"} for i in range(3)]
    assert maker.ctx.made == [("semaphore", 0), ("queue", 12)]  # one doorbell, three writers
    sources, middle, sinks = stages[:3], stages[3], stages[4:]
    assert [s.index for s in sources] == [0, 1, 2]
    assert [s.ring["name"] for s in sources] == ["frames0", "frames1", "frames2"]
    assert all(s.doorbell is middle.doorbell for s in sources)
    assert [r["name"] for r in middle.frames] == ["frames0", "frames1", "frames2"]
    assert [s.index for s in sinks] == [0, 1]
    assert all(s.results is middle.results for s in sinks)


def test_ring_bytes_is_what_build_allocates() -> None:
    maker, plan = FakeMaker(), Plan(streams=3, workers=2)
    top = topology(plan)
    expected = sum(r["slots"] * r["slot_bytes"] for r in (top.build(maker, plan), maker.rings)[1])
    assert top.ring_bytes(plan) == expected == (2 + 3 + 4) * 64


def test_the_run_state_reaches_every_stage() -> None:
    state = object()
    stages = topology(Plan(streams=1, workers=2)).build(FakeMaker(), Plan(streams=1, workers=2),
                                                        state)
    assert [s.run for s in stages if isinstance(s, Sink)] == [state, state]


def test_an_undeclared_read_is_refused() -> None:
    class Nosy(Stage):
        kind = "nosy"

        @classmethod
        def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Nosy:
            wiring.channels["results"]  # made by Middle, but not declared by this step
            raise AssertionError("unreachable")

    top = Topology([*STEPS, Step(Nosy, reads=("frames[stream]",))], counts=Plan().count)
    with pytest.raises(UndeclaredChannelError,
                       match=r"nosy does not declare that it reads channel 'results' "
                             r"\(declared: frames\[stream\]\)"):
        top.build(FakeMaker(), Plan())


def test_an_undeclared_write_is_refused() -> None:
    class Sneaky(Middle):
        @classmethod
        def outputs(cls, plan: Plan, channels: StageChannels, index: int) -> list[Any]:
            return [*super().outputs(plan, channels, index), QueueSpec(name="extra", maxsize=1)]

    steps = [STEPS[0], Step(Sneaky, reads=("frames[stream]", "doorbell"), writes=("results",))]
    with pytest.raises(UndeclaredChannelError, match="mid makes channel 'extra'"):
        Topology(steps, counts=Plan().count).build(FakeMaker(), Plan())
    with pytest.raises(UndeclaredChannelError, match="mid makes channel 'extra'"):
        Topology(steps, counts=Plan().count).ring_bytes(Plan())


def test_naming_an_undeclared_output_is_refused() -> None:
    class Stray(Source):
        @classmethod
        def outputs(cls, plan: Plan, channels: StageChannels, index: int) -> list[Any]:
            return [DoorbellSpec(name=channels.name("bell"))]

    with pytest.raises(UndeclaredChannelError,
                       match="does not declare that it writes channel 'bell'"):
        Topology([Step(Stray, writes=("doorbell",))], counts=Plan().count).build(
            FakeMaker(), Plan())


def test_a_read_that_no_step_writes_fails_the_build() -> None:
    top = Topology([STEPS[0], Step(Sink, reads=("results",), per="worker")],
                   counts=Plan().count)
    with pytest.raises(UndeclaredChannelError, match="out\\[worker\\] reads 'results', "
                                                     "which no step writes"):
        top.build(FakeMaker(), Plan())


def test_each_stage_sees_only_its_declared_channels() -> None:
    seen: list[StageChannels] = []

    class Spy(Sink):
        @classmethod
        def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Spy:
            seen.append(wiring.channels)
            return cls(results=wiring.channels["results"], index=index)

    top = Topology([*STEPS[:2], Step(Spy, reads=("results",))], counts=Plan().count)
    top.build(FakeMaker(), Plan())
    (view,) = seen
    assert view.declared == ("results",)
    assert view["results"] == ("queue", 12)
    for ask in (lambda: view.at("frames", 0), lambda: view.group("frames"),
                lambda: view["doorbell"], lambda: view.name("results")):
        with pytest.raises(UndeclaredChannelError):
            ask()


def test_an_indexed_channel_is_asked_for_with_its_index() -> None:
    view = StageChannels(owner="mid", reads=("frames[stream]", "inputs"), writes=(),
                         channels=Channels())
    with pytest.raises(UndeclaredChannelError, match="'frames' is declared as 'frames\\[index\\]'"):
        view["frames"]
    with pytest.raises(UndeclaredChannelError, match="ask for it without an index"):
        view.at("inputs", 0)


def test_a_stage_asking_for_a_declared_channel_not_made_fails_clearly() -> None:
    class Lost(Stage):
        @classmethod
        def build(cls, plan: Plan, wiring: Wiring[Any], index: int) -> Lost:
            wiring.channels.at("frames", 7)
            raise AssertionError("unreachable")

    top = Topology([STEPS[0], Step(Lost, reads=("frames[stream]",))], counts=Plan().count)
    with pytest.raises(KeyError, match=r"no channel 'frames7' \(have: frames0, doorbell, frames1"):
        top.build(FakeMaker(), Plan())


def test_a_stage_without_build_cannot_be_in_a_topology() -> None:
    with pytest.raises(NotImplementedError, match="Stage cannot be built from a topology"):
        Topology([Step(Stage)], counts=Plan().count).build(FakeMaker(), Plan())


def test_channels_group_is_in_index_order_and_stops_at_a_gap() -> None:
    channels = Channels()
    for name in ("frames1", "frames0", "inputs", "frames3", "framesX"):
        channels.add(name, name.upper())
    assert channels.group("frames") == ["FRAMES0", "FRAMES1"]  # frames3: after the gap
    assert channels.group("maps") == []
    assert "inputs" in channels and "maps" not in channels
    assert channels["inputs"] == "INPUTS"


def test_unknown_channel_names_the_ones_there_are() -> None:
    channels = Channels()
    channels.add("inputs", 1)
    channels.add("maps", 2)
    with pytest.raises(KeyError, match=r"no channel 'results' \(have: inputs, maps\)"):
        channels["results"]


def test_a_per_named_after_the_stage_reads_short() -> None:
    assert Step(Middle, per="mid_shard").label == "mid[shard]"
    assert Step(Middle, per="worker").label == "mid[worker]"


def test_a_count_channel_starts_at_zero_and_the_last_peer_knows_it() -> None:
    import multiprocessing

    from streampose.runtime.channels import CountSpec, last_to_finish
    from streampose.runtime.topology import _make

    class Maker:
        ctx = multiprocessing.get_context("spawn")

    count = _make(Maker(), CountSpec(name="done"))  # type: ignore[arg-type]
    assert count.value == 0
    assert [last_to_finish(count, 3) for _ in range(3)] == [False, False, True]
    assert last_to_finish(None, 1) is True  # no shared count: the only peer


def test_an_array_channel_is_a_locked_array_of_zeros() -> None:
    import multiprocessing

    from streampose.runtime.channels import ArraySpec
    from streampose.runtime.topology import _make

    class Maker:
        ctx = multiprocessing.get_context("spawn")

    array = _make(Maker(), ArraySpec(name="tracked0", length=6))  # type: ignore[arg-type]
    assert list(array) == [0.0] * 6
    with array.get_lock():
        array[2] = 1.5
    assert array[2] == 1.5
