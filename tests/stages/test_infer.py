"""Infer in-process on real rings with the fake backend: batches of up to ``batch``, an
end-of-stream closes a batch, groups of one input shape, one end-of-work item per worker
from the last inference worker to finish."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from streampose.backends.request import BackendRequest
from streampose.models.spec import builtin_specs
from streampose.pose.letterbox import Letterbox, letterbox_into, plan_letterbox
from streampose.processing import HostProcessing
from streampose.processing.base import FrameReader, Payload
from streampose.runtime.control import StageControl
from streampose.runtime.threads import ThreadBudget
from streampose.stages.infer import InferStage, with_threads
from streampose.transport.messages import FLAG_EOS, FrameHeader, FrameRef
from streampose.transport.ring import SharedRing
from tests.support.models import device_processing, paf_head, paf_maps

SPEC = builtin_specs()["openpose-mnv2s-coco18"]
WIDE = plan_letterbox(src_w=96, src_h=64, height=64, stride=8)  # input 96 x 64
NARROW = plan_letterbox(src_w=64, src_h=48, height=64, stride=8)  # input 88 x 64

MakeRing = Callable[..., SharedRing]
CTX = multiprocessing.get_context("spawn")


class Recording(HostProcessing):
    """Host processing that remembers the (stream, ticket) of each batch it ran."""

    def __init__(self) -> None:
        super().__init__(spec=SPEC, head=paf_head(SPEC))
        self.batches: list[list[tuple[int, int]]] = []

    def infer(self, backend: Any, inputs: Sequence[np.ndarray],
              headers: Sequence[FrameHeader], frames: FrameReader) -> list[Payload]:
        self.batches.append([(h.stream, h.ticket) for h in headers])
        return super().infer(backend, inputs, headers, frames)


@pytest.fixture
def rig(make_ring: MakeRing, stage_control: StageControl) -> Callable[..., InferStage]:
    def build(*, batch: int = 3, max_wait_ms: float = 50.0, streams: int = 2,
              consumers: int = 1) -> InferStage:
        p = Recording()
        inputs = make_ring(name="inputs", slots=8, slot_bytes=p.input_bytes([WIDE, NARROW]))
        maps = make_ring(name="maps", slots=12, slot_bytes=p.output_bytes([WIDE, NARROW]))
        stage = InferStage(inputs=inputs, maps=maps, processing=p,
                           backend=BackendRequest(name="fake", spec=SPEC, model_path=None),
                           batch=batch, max_wait_ms=max_wait_ms, streams=streams,
                           consumers=consumers)
        stage.control = stage_control
        stage.open()
        return stage

    return build


def frame_of(lb: Letterbox, ticket: int) -> np.ndarray:
    """A dark frame with a bright square (the fake backend's person) that moves down."""
    frame = np.full((lb.new_h, lb.new_w, 3), 20, np.uint8)
    frame[8 * ticket % lb.new_h:][:8, 16:24] = 250
    return frame


def put(stage: InferStage, stream: int, ticket: int, lb: Letterbox = WIDE) -> FrameHeader:
    """What preprocess does: a letterboxed input (a bright square in a dark frame)."""
    slot, _ = stage.inputs.acquire_write(0)
    shape, dtype = stage.processing.prepare(frame_of(lb, ticket), lb, stage.inputs, slot)
    header = FrameHeader(stream=stream, seq=10 + ticket, width=lb.new_w, height=lb.new_h,
                         frame=FrameRef(stream, ticket), shape=shape, dtype=dtype,
                         transform=lb.transform, ticket=ticket)
    stage.inputs.publish(slot, header)
    return header


def put_eos(stage: InferStage, stream: int, ticket: int) -> FrameHeader:
    header = FrameHeader(stream=stream, seq=10 + ticket, flags=FLAG_EOS, ticket=ticket)
    slot, _ = stage.inputs.acquire_write(0)
    stage.inputs.publish(slot, header, pinned=True)
    return header


def drain(ring: SharedRing) -> list[FrameHeader]:
    headers = []
    while (got := ring.acquire_read(0)) is not None:
        headers.append(got[1])
        ring.release(got[0])
    return headers


def test_batches_hold_up_to_batch_items(rig: Callable[..., InferStage],
                                        free_slots: Callable) -> None:
    stage = rig(batch=3)
    sent = [put(stage, 0, ticket) for ticket in range(5)]
    assert stage.step() is True
    assert stage.processing.batches == [[(0, 0), (0, 1), (0, 2)]]
    assert stage.step() is True  # two left: the batch closes after max_wait_ms
    assert stage.processing.batches[1:] == [[(0, 3), (0, 4)]]
    maps = drain(stage.maps)
    assert [h.ticket for h in maps] == [0, 1, 2, 3, 4]
    for header, original in zip(maps, sent, strict=True):  # the metadata travels on
        assert header.shape == (57, 8, 12) and header.dtype == "float32"
        assert (header.frame, header.transform, header.seq) == (
            original.frame, original.transform, original.seq)
    assert free_slots(stage.inputs) == 8  # every input slot went back
    assert stage.extra_report() == {"batches": 2, "device_ops": False,
                                    "map_bytes_per_item": 57 * 8 * 12 * 4}
    stage.close()


def test_the_payload_is_the_backends_maps(rig: Callable[..., InferStage]) -> None:
    stage = rig(batch=1)
    put(stage, 0, 2)
    assert stage.step() is True
    slot, got = stage.maps.acquire_read(0)
    x = np.zeros(SPEC.input_shape(1, WIDE.in_h, WIDE.in_w), np.float32)
    letterbox_into(frame_of(WIDE, 2), WIDE, x[0], spec=SPEC)
    heatmaps, pafs = paf_maps(SPEC, stage.backend.infer(x))
    stored = stage.maps.view(slot, got.shape, got.dtype)
    np.testing.assert_array_equal(stored[:19], heatmaps[0])
    np.testing.assert_array_equal(stored[19:], pafs[0])
    assert heatmaps[0, :18].max() > 0.5  # the backend saw the bright square
    stage.maps.release(slot)
    stage.close()


def test_an_end_of_stream_closes_the_batch(rig: Callable[..., InferStage]) -> None:
    stage = rig(batch=8, max_wait_ms=200.0)
    put(stage, 0, 0)
    put(stage, 0, 1)
    eos = put_eos(stage, 0, 2)
    put(stage, 1, 0)
    assert stage.step() is True
    assert stage.processing.batches == [[(0, 0), (0, 1)]]
    assert stage.inputs.pending() == 1  # stream 1's item waits for the next batch
    maps = drain(stage.maps)
    assert [(h.stream, h.ticket, h.eos) for h in maps] == [(0, 0, False), (0, 1, False),
                                                          (0, 2, True)]
    assert maps[-1] == eos  # forwarded as it came
    assert stage.step() is True
    assert stage.processing.batches[1:] == [[(1, 0)]]
    stage.close()


def test_items_are_grouped_by_input_shape(rig: Callable[..., InferStage]) -> None:
    stage = rig(batch=3)
    put(stage, 0, 0, WIDE)
    put(stage, 1, 0, NARROW)
    put(stage, 0, 1, WIDE)
    assert stage.step() is True
    assert stage.processing.batches == [[(0, 0), (0, 1)], [(1, 0)]]
    maps = drain(stage.maps)
    assert [(h.stream, h.ticket, h.shape) for h in maps] == [
        (0, 0, (57, 8, 12)), (0, 1, (57, 8, 12)), (1, 0, (57, 8, 11))]
    assert stage.batches == 2
    stage.close()


def put_end_of_work(stage: InferStage) -> None:
    """What the last preprocess shard does once every stream ended."""
    slot, _ = stage.inputs.acquire_write(0)
    stage.inputs.publish(slot, FrameHeader(stream=-1, flags=FLAG_EOS), pinned=True)


def test_one_end_of_work_item_per_consumer(rig: Callable[..., InferStage],
                                           free_slots: Callable) -> None:
    stage = rig(streams=2, consumers=3)
    put_eos(stage, 0, 0)
    put_eos(stage, 1, 4)
    put_end_of_work(stage)
    assert stage.step() is True  # the first EOS closed the batch
    assert stage.step() is True  # streams end; the worker goes on until end of work
    assert stage.step() is False  # end of work: the postprocess workers are told to stop
    maps = drain(stage.maps)
    assert [(h.stream, h.eos) for h in maps] == [(0, True), (1, True)] + [(-1, True)] * 3
    assert maps[2:] == [FrameHeader(stream=-1, flags=FLAG_EOS)] * 3
    assert stage.processing.batches == [] and free_slots(stage.inputs) == 8
    stage.close()
    assert stage.backend._open is False  # close() closed the backend


def test_only_the_last_worker_to_finish_ends_the_postprocess_work(
    rig: Callable[..., InferStage], make_ring: MakeRing, free_slots: Callable
) -> None:
    first = rig(consumers=2)
    second = InferStage(inputs=first.inputs, maps=first.maps, processing=Recording(),
                        backend=first.request, batch=1, max_wait_ms=0, streams=2,
                        consumers=2, finished=CTX.Value("i", 0), peers=2, name="infer1")
    first.finished, first.peers = second.finished, 2
    second.control = first.control
    second.open()
    put(first, 0, 0)
    put(first, 1, 0)
    put_end_of_work(first)
    put_end_of_work(first)
    assert second.step() is True  # takes stream 0's frame (a batch of one)
    assert first.step() is False  # stream 1's frame, then its end of work: not the last
    assert [(h.stream, h.ticket) for h in drain(first.maps)] == [(0, 0), (1, 0)]
    assert second.step() is False  # the last to finish: one end-of-work per consumer
    assert [(h.stream, h.ticket) for h in drain(first.maps)] == [(-1, 0), (-1, 0)]
    assert free_slots(first.inputs) == 8 and first.finished.value == 2
    assert (first.name, second.name) == ("infer", "infer1")
    first.close()
    second.close()


def test_end_of_stream_items_are_pinned_in_the_map_ring(make_ring: MakeRing,
                                                        stage_control: StageControl) -> None:
    p = Recording()
    inputs = make_ring(name="inputs", slots=2, slot_bytes=64)
    maps = make_ring(name="maps", slots=2, slot_bytes=64, policy="drop_oldest")
    stage = InferStage(inputs=inputs, maps=maps, processing=p,
                       backend=BackendRequest(name="fake", spec=SPEC, model_path=None),
                       batch=1, max_wait_ms=0, streams=1, consumers=1)
    stage.control = stage_control
    stage.open()
    inputs.publish(inputs.acquire_write(0)[0], FrameHeader(stream=0, flags=FLAG_EOS),
                   pinned=True)
    assert stage.step() is True
    inputs.publish(inputs.acquire_write(0)[0], FrameHeader(stream=-1, flags=FLAG_EOS),
                   pinned=True)
    assert stage.step() is False
    assert maps.acquire_write(0) is None  # the EOS and the end-of-work item: not evictable
    stage.close()


def test_device_processing_reads_the_frame_through_its_lease(
    make_ring: MakeRing, stage_control: StageControl
) -> None:
    pytest.importorskip("torch", reason="device processing runs on torch")
    p = device_processing(SPEC)
    frames = [make_ring(name=f"frames{s}", slots=2, slot_bytes=96 * 64 * 3) for s in (0, 1)]
    inputs = make_ring(name="inputs", slots=2, slot_bytes=p.input_bytes([WIDE]))
    maps = make_ring(name="maps", slots=2, slot_bytes=p.output_bytes([WIDE]))
    request = BackendRequest(name="fake", spec=SPEC, model_path=None)
    stage = InferStage(inputs=inputs, maps=maps, processing=p, backend=request, batch=1,
                       max_wait_ms=0, streams=2, consumers=1, frames=frames)
    stage.control = stage_control
    stage.open()
    frames[1].acquire_write(0)  # slot 0 is someone else's
    slot, _ = frames[1].acquire_write(0)
    frames[1].array(slot, (64, 96, 3), np.uint8)[...] = frame_of(WIDE, 3)
    out, _ = inputs.acquire_write(0)
    shape, dtype = p.prepare(frame_of(WIDE, 3), WIDE, inputs, out)
    inputs.publish(out, FrameHeader(stream=1, width=96, height=64, frame=FrameRef(1, slot),
                                    shape=shape, dtype=dtype, ticket=5,
                                    transform=(WIDE.scale_x, WIDE.scale_y, 0.0, 0.0)))
    assert stage.step() is True
    [header] = drain(maps)
    assert (header.stream, header.ticket, header.frame) == (1, 5, FrameRef(1, slot))
    assert (header.shape, header.dtype) == ((38, 8, 12), "float16")
    assert stage.extra_report()["device_ops"] is True
    stage.close()


def test_reading_frames_without_frame_rings_is_an_error(rig: Callable[..., InferStage]) -> None:
    stage = rig()
    with pytest.raises(RuntimeError, match="no frame rings given"):
        stage._frame(FrameHeader(frame=FrameRef(0, 0)))
    stage.close()


def test_the_thread_budget_sets_the_backend_s_threads() -> None:
    spec = SPEC
    ort_request = BackendRequest(name="onnxruntime", spec=spec, model_path=None, threads=None,
                                 options={"spin": True})
    budget = ThreadBudget("infer", intra_op=1, inter_op=1)
    got = with_threads(ort_request, budget)
    assert (got.threads, got.options) == (1, {"spin": True, "inter_threads": 1})
    mine = BackendRequest(name="onnxruntime", spec=spec, model_path=None,
                          options={"inter_threads": 3})
    assert with_threads(mine, budget).options == {"inter_threads": 3}  # the user's wins
    fake = BackendRequest(name="fake", spec=spec, model_path=None, threads=4)
    assert with_threads(fake, budget).options == {} and with_threads(fake, budget).threads == 1
    assert with_threads(fake, ThreadBudget("infer")).threads == 4
