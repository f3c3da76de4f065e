"""Preprocess in-process on real rings: round-robin over streams, gapless tickets, pinned
end-of-stream, and the host strategy's letterboxed input with the frame lease."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from streampose.models.spec import builtin_specs
from streampose.planning.work_items import ItemPlanner
from streampose.pose.letterbox import letterbox_into, plan_letterbox
from streampose.processing import HostProcessing
from streampose.runtime.control import StageControl
from streampose.stages.preprocess import PreprocessStage
from streampose.transport.messages import FLAG_EOS, FrameHeader, FrameRef
from streampose.transport.ring import SharedRing
from tests.support.models import device_processing, host_processing

CTX = mp.get_context("spawn")
SPEC = builtin_specs()["openpose-mnv2s-coco18"]
HEIGHT = 64
PLANNER = ItemPlanner(spec=SPEC, height=HEIGHT)  # whole frames
SIZES = [(96, 64), (64, 48)]  # (width, height) of stream 0 and stream 1

MakeRing = Callable[..., SharedRing]


def processing() -> HostProcessing:
    p: HostProcessing = host_processing(SPEC)
    return p


def frame_of(stream: int, seq: int) -> np.ndarray:
    w, h = SIZES[stream]
    return np.random.default_rng(100 * stream + seq).integers(0, 256, (h, w, 3), np.uint8)


def decode(ring: SharedRing, doorbell: Any, stream: int, seq: int) -> int:
    """What the decode stage does for one frame; returns its frame slot."""
    image = frame_of(stream, seq)
    slot, _ = ring.acquire_write(0)
    ring.array(slot, image.shape, np.uint8)[...] = image
    ring.publish(slot, FrameHeader(stream=stream, seq=seq, pts=100 * seq,
                                   time_base=Fraction(1, 1000), wall=1e9 + seq,
                                   width=image.shape[1], height=image.shape[0],
                                   shape=image.shape, dtype="uint8"))
    doorbell.release()
    return slot


def decode_eos(ring: SharedRing, doorbell: Any, stream: int, seq: int) -> None:
    slot, _ = ring.acquire_write(0)
    ring.publish(slot, FrameHeader(stream=stream, seq=seq, flags=FLAG_EOS), pinned=True)
    doorbell.release()


@pytest.fixture
def rig(make_ring: MakeRing, stage_control: StageControl) -> Callable[..., PreprocessStage]:
    """``rig(inputs_policy=..., inputs_slots=..., frame_slots=...)``: two frame rings, a
    doorbell, an input ring and an opened preprocess stage."""

    def build(*, frame_slots: int = 4, inputs_slots: int = 16,
              inputs_policy: str = "block") -> PreprocessStage:
        p = processing()
        plans = [plan_letterbox(src_w=w, src_h=h, height=HEIGHT, stride=SPEC.stride)
                 for w, h in SIZES]
        frames = [make_ring(name=f"frames{s}", slots=frame_slots, slot_bytes=96 * 64 * 3)
                  for s in range(len(SIZES))]
        inputs = make_ring(name="inputs", slots=inputs_slots, policy=inputs_policy,
                           slot_bytes=p.input_bytes(plans))
        stage = PreprocessStage(frames=frames, doorbell=CTX.Semaphore(0), inputs=inputs,
                                processing=p, planner=PLANNER)
        stage.control = stage_control
        stage.open()
        return stage

    return build


def drain(ring: SharedRing) -> list[tuple[int, FrameHeader]]:
    items = []
    while (got := ring.acquire_read(0)) is not None:
        items.append(got)
    return items


def test_round_robin_over_streams_with_gapless_tickets(rig: Callable[..., PreprocessStage],
                                                       free_slots: Callable) -> None:
    stage = rig()
    for stream in (0, 1):  # stream 0 is all there first: it must not go first throughout
        for seq in range(3):
            decode(stage.frames[stream], stage.doorbell, stream, seq)
        decode_eos(stage.frames[stream], stage.doorbell, stream, 3)
    results = [stage.step() for _ in range(8)]
    assert results == [True] * 7 + [False]  # finished once every stream ended
    items = [header for _, header in drain(stage.inputs)]
    assert items[-1] == FrameHeader(stream=-1, flags=FLAG_EOS)  # end of work, last
    items = items[:-1]
    assert [(h.stream, h.seq) for h in items] == [
        (0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3), (1, 3)]
    for stream in (0, 1):
        mine = [h for h in items if h.stream == stream]
        assert [h.ticket for h in mine] == [0, 1, 2, 3]
        assert [h.eos for h in mine] == [False, False, False, True]
        assert free_slots(stage.frames[stream]) == 1  # 3 frames leased, the EOS slot freed
    assert stage.items == 6
    stage.close()


def test_host_processing_writes_the_letterboxed_input(rig: Callable[..., PreprocessStage],
                                                      free_slots: Callable) -> None:
    stage = rig()
    frame_slot = decode(stage.frames[1], stage.doorbell, 1, 5)
    assert stage.step() is True
    [(slot, header)] = drain(stage.inputs)
    lb = plan_letterbox(src_w=64, src_h=48, height=HEIGHT, stride=SPEC.stride)
    assert [item.letterbox for item in stage.plan(64, 48)] == [lb]
    want = np.zeros((lb.in_h, lb.in_w, 3), np.float32)
    letterbox_into(frame_of(1, 5), lb, want, spec=SPEC)
    assert (header.shape, header.dtype) == ((64, 88, 3), "float32")
    np.testing.assert_array_equal(stage.inputs.view(slot, header.shape, header.dtype), want)
    assert header.transform == (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y)
    assert header.frame == FrameRef(1, frame_slot)
    assert (header.stream, header.seq, header.pts, header.wall) == (1, 5, 500, 1e9 + 5)
    assert (header.time_base, header.width, header.height) == (Fraction(1, 1000), 64, 48)
    assert header.ticket == 0 and not header.eos
    assert free_slots(stage.frames[1]) == 3  # the frame stays leased for render
    stage.inputs.release(slot)
    stage.close()


def test_end_of_stream_is_forwarded_pinned(rig: Callable[..., PreprocessStage],
                                           free_slots: Callable) -> None:
    stage = rig(frame_slots=1, inputs_slots=1, inputs_policy="drop_oldest")
    decode_eos(stage.frames[0], stage.doorbell, 0, 7)
    assert stage.step() is True  # stream 1 has not ended
    assert free_slots(stage.frames[0]) == 1  # the EOS frame slot went back at once
    assert stage.inputs.acquire_write(0) is None  # pinned: drop_oldest may not evict it
    [(slot, header)] = drain(stage.inputs)
    assert header == FrameHeader(stream=0, seq=7, flags=FLAG_EOS, ticket=0)
    stage.inputs.release(slot)
    stage.close()


def test_a_doorbell_without_an_item_is_skipped(rig: Callable[..., PreprocessStage]) -> None:
    """Live decoders may lose an announced item to drop_oldest before preprocess reads it."""
    stage = rig()
    stage.doorbell.release()
    assert stage.step() is True
    assert stage.step() is True  # no doorbell: the wait times out
    assert stage.inputs.pending() == 0 and stage.items == 0
    stage.close()


def test_a_hard_stop_leaves_a_full_input_ring_alone(rig: Callable[..., PreprocessStage],
                                                    stage_control: StageControl) -> None:
    stage = rig(inputs_slots=1)
    decode(stage.frames[0], stage.doorbell, 0, 0)
    decode(stage.frames[0], stage.doorbell, 0, 1)
    assert stage.step() is True
    stage_control.stop.set()
    assert stage.step() is True  # gave up waiting for an input slot; the runner exits
    assert stage.inputs.pending() == 1 and stage.items == 1
    stage.close()


def test_device_processing_sends_only_the_plan(make_ring: MakeRing,
                                               stage_control: StageControl) -> None:
    pytest.importorskip("torch", reason="device processing runs on torch")
    from streampose.processing.device import PLAN_ONLY_BYTES

    p = device_processing(SPEC)
    frames = [make_ring(name="frames0", slots=2, slot_bytes=96 * 64 * 3)]
    inputs = make_ring(name="inputs", slots=2, slot_bytes=PLAN_ONLY_BYTES)
    stage = PreprocessStage(frames=frames, doorbell=CTX.Semaphore(0), inputs=inputs,
                            processing=p, planner=PLANNER)
    stage.control = stage_control
    frame_slot = decode(frames[0], stage.doorbell, 0, 0)
    assert stage.step() is True
    [(slot, header)] = drain(inputs)
    assert (header.shape, header.dtype) == ((64, 96, 3), "uint8")  # the plan, no pixels
    assert header.frame == FrameRef(0, frame_slot) and header.transform == (1.0, 1.0, 0.0, 0.0)
    inputs.release(slot)
    stage.close()


def test_a_shard_reads_only_its_streams_and_the_last_shard_ends_the_work(
    make_ring: MakeRing, stage_control: StageControl
) -> None:
    p = processing()
    plans = [plan_letterbox(src_w=w, src_h=h, height=HEIGHT, stride=SPEC.stride)
             for w, h in SIZES]
    rings = [make_ring(name=f"frames{s}", slots=4, slot_bytes=96 * 64 * 3) for s in (0, 1)]
    inputs = make_ring(name="inputs", slots=16, slot_bytes=p.input_bytes(plans))
    finished = CTX.Value("i", 0)
    shards = [PreprocessStage(frames=[ring if s == mine else None for s, ring in enumerate(rings)],
                              doorbell=CTX.Semaphore(0), inputs=inputs, processing=p,
                              planner=PLANNER, consumers=3, finished=finished, peers=2,
                              name=f"preprocess{mine}")
              for mine in (0, 1)]
    for shard in shards:
        shard.control = stage_control
        shard.open()
    for stream, shard in enumerate(shards):
        decode(rings[stream], shard.doorbell, stream, 0)
        decode_eos(rings[stream], shard.doorbell, stream, 1)
    assert [shards[1].step(), shards[1].step()] == [True, False]  # stream 1 ended first
    assert [shards[0].step(), shards[0].step()] == [True, False]  # the last to finish
    items = [header for _, header in drain(inputs)]
    assert [(h.stream, h.ticket, h.eos) for h in items] == [
        (1, 0, False), (1, 1, True), (0, 0, False), (0, 1, True)] + [(-1, 0, True)] * 3
    assert finished.value == 2 and shards[0].owned == [0] and shards[1].owned == [1]
    for shard in shards:
        shard.close()
