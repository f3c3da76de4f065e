"""Postprocess in-process on real rings: a map payload becomes a PoseResult in frame pixels;
end-of-stream passes through; stream -1 ends the worker."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable

import numpy as np
import pytest

from streampose.backends.fake_people import render_maps, standing_person
from streampose.models.spec import builtin_specs
from streampose.pose import COCO18, PafDecoder, Poses
from streampose.pose.letterbox import plan_letterbox
from streampose.runtime.control import StageControl
from streampose.stages.postprocess import PostprocessStage, to_frame
from streampose.transport.messages import FLAG_EOS, FrameHeader, FrameRef, PoseResult
from streampose.transport.ring import SharedRing
from tests.support.models import host_processing

CTX = mp.get_context("spawn")
SPEC = builtin_specs()["openpose-mnv2s-coco18"]
LB = plan_letterbox(src_w=640, src_h=360, height=184, stride=8)  # 328 x 184 input, 41 x 23 maps
MAP_HW = (23, 41)
WAIT_S = 10.0

MakeRing = Callable[..., SharedRing]


@pytest.fixture
def stage(make_ring: MakeRing, stage_control: StageControl) -> PostprocessStage:
    p = host_processing(SPEC)
    maps = make_ring(name="maps", slots=4, slot_bytes=p.output_bytes([LB]))
    stage = PostprocessStage(maps=maps, results=CTX.Queue(), processing=p, worker=1)
    stage.control = stage_control
    stage.open()
    return stage


def person_maps() -> tuple[np.ndarray, np.ndarray]:
    person = standing_person(x=20.0, top=3.0, height=16.0)
    heatmaps, pafs = render_maps([person], shape=MAP_HW)
    return heatmaps, pafs


def publish_maps(stage: PostprocessStage, heatmaps: np.ndarray, pafs: np.ndarray,
                 **fields: object) -> FrameHeader:
    """What infer does for one frame (host strategy: maps as one float32 array)."""
    slot, _ = stage.maps.acquire_write(0)
    maps = np.concatenate([heatmaps, pafs])
    stage.maps.array(slot, maps.shape, np.float32)[...] = maps
    header = FrameHeader(stream=0, seq=4, width=640, height=360, frame=FrameRef(0, 2),
                         shape=maps.shape, dtype="float32", ticket=3,
                         transform=(LB.scale_x, LB.scale_y, LB.pad_x, LB.pad_y), **fields)
    stage.maps.publish(slot, header)
    return header


def test_maps_become_poses_in_frame_pixels(stage: PostprocessStage,
                                           free_slots: Callable) -> None:
    heatmaps, pafs = person_maps()
    header = publish_maps(stage, heatmaps, pafs)
    assert stage.step() is True
    result: PoseResult = stage.queues[0].get(timeout=WAIT_S)
    assert result.header == header  # frame lease and ticket travel to render unchanged
    in_maps = PafDecoder(COCO18)(heatmaps, pafs)
    assert len(in_maps) == 1 and result.keypoints.shape == (1, 18, 3)
    # map cell centres -> input pixels -> frame pixels, pixel centres on integers
    xy = LB.to_frame(SPEC.stride * (in_maps.keypoints[..., :2] + 0.5)) - 0.5
    present = in_maps.keypoints[..., 2] > 0
    np.testing.assert_allclose(result.keypoints[..., :2][present], xy[present], atol=1e-3)
    np.testing.assert_array_equal(result.keypoints[..., 2], in_maps.keypoints[..., 2])
    np.testing.assert_array_equal(result.scores, in_maps.scores)
    assert free_slots(stage.maps) == 4 and stage.items == 1
    stage.close()


def test_to_frame_clamps_to_the_frame() -> None:
    """The head's poses are in network-input pixels (pixel edges on integers)."""
    keypoints = np.zeros((1, 18, 3), np.float32)
    keypoints[0, 0] = (-20.0, 804.0, 0.9)  # left of and below the frame
    keypoints[0, 1] = (44.0, 44.0, 0.8)
    header = FrameHeader(width=640, height=360,
                         transform=(LB.scale_x, LB.scale_y, LB.pad_x, LB.pad_y))
    moved = to_frame(Poses(keypoints, np.ones(1, np.float32), COCO18), header)
    assert tuple(moved.keypoints[0, 0]) == pytest.approx((0.0, 359.0, 0.9))
    want = LB.to_frame(np.array([[44.0, 44.0]]))[0] - 0.5
    assert tuple(moved.keypoints[0, 1, :2]) == pytest.approx(tuple(want), abs=1e-4)
    assert tuple(moved.keypoints[0, 2]) == (0.0, 0.0, 0.0)  # missing stays missing


def test_an_empty_frame_gives_an_empty_result(stage: PostprocessStage) -> None:
    zeros = np.zeros((19, *MAP_HW), np.float32), np.zeros((38, *MAP_HW), np.float32)
    publish_maps(stage, *zeros)
    assert stage.step() is True
    result = stage.queues[0].get(timeout=WAIT_S)
    assert result.keypoints.shape == (0, 18, 3) and result.scores.shape == (0,)
    stage.close()


def test_end_of_stream_passes_through(stage: PostprocessStage, free_slots: Callable) -> None:
    eos = FrameHeader(stream=1, seq=9, flags=FLAG_EOS, ticket=6)
    stage.maps.publish(stage.maps.acquire_write(0)[0], eos, pinned=True)
    assert stage.step() is True
    result = stage.queues[0].get(timeout=WAIT_S)
    assert result == PoseResult(eos) and result.keypoints is None
    assert free_slots(stage.maps) == 4 and stage.items == 0
    stage.close()


def test_stream_minus_one_ends_the_worker(stage: PostprocessStage,
                                          free_slots: Callable) -> None:
    stage.maps.publish(stage.maps.acquire_write(0)[0], FrameHeader(stream=-1, flags=FLAG_EOS),
                       pinned=True)
    assert stage.step() is False
    with pytest.raises(queue.Empty):
        stage.queues[0].get(timeout=0.2)
    assert free_slots(stage.maps) == 4
    stage.close()


def test_nothing_to_read_is_not_the_end(stage: PostprocessStage) -> None:
    assert stage.step() is True
    assert stage.name == "postprocess1"
    stage.close()


def test_a_hard_stop_does_not_wait_for_a_full_results_queue(
    make_ring: MakeRing, stage_control: StageControl
) -> None:
    p = host_processing(SPEC)
    maps = make_ring(name="maps", slots=2, slot_bytes=64)
    results = CTX.Queue(maxsize=1)
    stage = PostprocessStage(maps=maps, results=results, processing=p)
    stage.control = stage_control
    for seq in range(2):
        maps.publish(maps.acquire_write(0)[0], FrameHeader(seq=seq, flags=FLAG_EOS))
    assert stage.step() is True  # the queue takes one
    stage_control.stop.set()
    assert stage.step() is False  # full queue and a hard stop: give up, don't block
    stage.close()  # does not wait to flush the queue
    assert results.get(timeout=WAIT_S).header.seq == 0


def test_results_go_to_the_queue_of_the_render_shard_of_their_stream(
    make_ring: Callable[..., SharedRing], stage_control: StageControl
) -> None:
    maps = make_ring(name="maps", slots=4, slot_bytes=64)
    shards = [queue.Queue(), queue.Queue()]
    stage = PostprocessStage(maps=maps, results=shards, processing=host_processing(SPEC),
                             route=[1, 0, 1])
    stage.control = stage_control
    for stream in (0, 1, 2):
        maps.publish(maps.acquire_write(0)[0], FrameHeader(stream=stream, flags=FLAG_EOS))
        assert stage.step() is True
    assert [r.header.stream for r in drain_queue(shards[1])] == [0, 2]
    assert [r.header.stream for r in drain_queue(shards[0])] == [1]


def drain_queue(q: queue.Queue) -> list[PoseResult]:
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items
