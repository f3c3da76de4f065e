"""Work items through the real stages, in-process on real rings with the fake backend:
preprocess cuts a frame into tiles, infer batches the tiles, several postprocess workers
decode them in any order, and render's ticket order merges each frame's tiles into one
result per frame, in order; a pass-through item reaches the sinks as a frame with no
people."""

from __future__ import annotations

import multiprocessing as mp
import queue
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from streampose.backends.request import BackendRequest
from streampose.models.spec import builtin_specs
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta, Sink
from streampose.planning.work_items import ItemPlanner, WorkItem
from streampose.pose import COCO18, Poses
from streampose.runtime.control import StageControl
from streampose.stages import infer, postprocess, preprocess, render
from streampose.stages.infer import InferStage
from streampose.stages.item_merge import ItemMerge
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.render import RenderStage
from streampose.transport.messages import FLAG_EOS, FrameHeader, PoseResult
from streampose.transport.ring import SharedRing
from tests.support.models import host_processing

CTX = mp.get_context("spawn")
SPEC = builtin_specs()["openpose-mnv2s-coco18"]  # COCO-18 PAF: the fake draws whole people
W, H = 256, 128
# Scale 1, tiles of 192x96 frame pixels overlapping by 32 or more: 2 x 2 tiles at x 0 and
# 64, y 0 and 32 (offsets a multiple of the stride: each tile's map cells line up).
TILES = ItemPlanner(spec=SPEC, height=H, tiles=True, overlap=32, tile_size=96)
SQUARE_Y = 40  # rows 40..48: in every tile; a person 58 px tall, cut by the lower tiles

MakeRing = Callable[..., SharedRing]


class Recorder(Sink):
    """Remembers each frame written: (stream, frame, poses)."""

    wants_image = False

    def __init__(self) -> None:
        self.written: list[tuple[int, int, Poses]] = []

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        self.written.append((meta.stream, meta.frame, poses))


class NoItems(ItemPlanner):
    """A planner that gives no work item (what a still frame will get)."""

    def plan(self, width: int, height: int) -> tuple[WorkItem, ...]:
        return ()


class SpyMerge(ItemMerge):
    """The chain's merge, remembering the keypoints found of each person of each item."""

    def __init__(self) -> None:
        super().__init__(COCO18)
        object.__setattr__(self, "seen", [])

    def __call__(self, results: Sequence[PoseResult]) -> PoseResult:
        self.seen.append([[int((kp[:, 2] > 0).sum()) for kp in r.keypoints] for r in results])
        return super().__call__(results)


@dataclass
class Chain:
    """decode (by hand) -> preprocess -> infer -> postprocess x N -> render."""

    frames: list[SharedRing]
    preprocess: PreprocessStage
    infer: InferStage
    postprocess: list[PostprocessStage]
    render: RenderStage
    sink: Recorder
    merge: SpyMerge
    counters: StreamCounters
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def decode(self, stream: int, seq: int, square_x: int | None) -> None:
        image = np.full((H, W, 3), 20, np.uint8)
        if square_x is not None:
            image[SQUARE_Y:SQUARE_Y + 8, square_x:square_x + 8] = 250
        ring = self.frames[stream]
        slot, _ = ring.acquire_write(0)
        ring.array(slot, image.shape, np.uint8)[...] = image
        ring.publish(slot, FrameHeader(stream=stream, seq=seq, width=W, height=H,
                                       shape=image.shape, dtype="uint8"))
        self.preprocess.doorbell.release()

    def end(self, stream: int, seq: int) -> None:
        slot, _ = self.frames[stream].acquire_write(0)
        self.frames[stream].publish(slot, FrameHeader(stream=stream, seq=seq, flags=FLAG_EOS),
                                    pinned=True)
        self.preprocess.doorbell.release()

    def run(self, frames: int) -> None:
        """Everything decoded so far through every stage, postprocess workers in a random
        order, until render wrote ``frames`` frames."""
        for _ in range(16):
            self.preprocess.step()
        for _ in range(64):
            self.infer.step()
            for _ in range(4):
                self.rng.choice(self.postprocess).step()
            while self.render.results.qsize():
                self.render.step()
            if len(self.sink.written) >= frames:
                return
        raise AssertionError(f"{len(self.sink.written)} of {frames} frames came out")


@pytest.fixture
def chain(make_ring: MakeRing, stage_control: StageControl,
          monkeypatch: pytest.MonkeyPatch) -> Callable[..., Chain]:
    for module in (preprocess, infer, postprocess, render):  # idle polls, not waits
        monkeypatch.setattr(module, "POLL_S", 0.001)

    def build(planner: ItemPlanner = TILES, streams: int = 1, workers: int = 3) -> Chain:
        p = host_processing(SPEC)
        plans = planner.letterboxes([(W, H)]) or TILES.letterboxes([(W, H)])
        frames = [make_ring(name=f"frames{s}", slots=4, slot_bytes=W * H * 3)
                  for s in range(streams)]
        inputs = make_ring(name="inputs", slots=16, slot_bytes=p.input_bytes(plans))
        maps = make_ring(name="maps", slots=16, slot_bytes=p.output_bytes(plans))
        results: Any = queue.Queue()
        sink, merge = Recorder(), SpyMerge()
        counters = StreamCounters(streams=streams, ctx=CTX)
        stages: list[Any] = [
            PreprocessStage(frames=frames, doorbell=CTX.Semaphore(0), inputs=inputs,
                            processing=p, planner=planner, counters=counters),
            InferStage(inputs=inputs, maps=maps, processing=p,
                       backend=BackendRequest(name="fake", spec=SPEC, model_path=None),
                       batch=4, max_wait_ms=0.0, streams=streams, consumers=workers),
            *[PostprocessStage(maps=maps, results=results, processing=p, worker=i)
              for i in range(workers)],
            RenderStage(frames=frames, results=results, sinks=[sink], skeleton="coco18",
                        counters=counters, merge=merge)]
        for stage in stages:
            stage.control = stage_control
            stage.open()
        return Chain(frames, stages[0], stages[1], stages[2:-1], stages[-1], sink, merge,
                     counters)

    return build


def test_a_person_seen_by_several_tiles_is_one_pose_in_frame_pixels(
        chain: Callable[..., Chain]) -> None:
    c = chain()
    c.decode(0, 0, square_x=128)
    c.run(frames=1)
    assert c.preprocess.items == 1 and c.infer.items == 4  # one frame, four tiles
    (stream, frame, poses), = c.sink.written
    assert (stream, frame, len(poses)) == (0, 0, 1)
    (tiles,) = c.merge.seen  # each tile found the person: whole above, in parts below
    found = [n for people in tiles for n in people]
    whole = max(found)
    assert len(tiles) == 4 and all(tiles) and min(found) < whole
    present = poses.keypoints[0, :, 2] > 0
    assert present.sum() == whole  # the fullest pose kept
    xy = poses.keypoints[0, present, :2]
    assert abs(float(np.median(xy[:, 0])) - 131.5) < 4  # the square's centre, frame x
    assert xy[:, 1].min() >= 0 and xy[:, 1].max() < H


def test_each_stream_s_frames_come_out_in_order_with_several_workers(
        chain: Callable[..., Chain]) -> None:
    c = chain(streams=2, workers=3)
    xs = (96, 128, 160)
    for seq, x in enumerate(xs):  # 8 tiles in flight at a time (the input ring holds 16)
        for stream in (0, 1):
            c.decode(stream, seq, square_x=x)
        c.run(frames=2 * seq + 2)
    for stream in (0, 1):
        mine = [(frame, poses) for s, frame, poses in c.sink.written if s == stream]
        assert [frame for frame, _ in mine] == [0, 1, 2]
        assert [len(poses) for _, poses in mine] == [1, 1, 1]
        centres = [float(np.median(p.keypoints[0, :, 0])) for _, p in mine]
        assert all(abs(got - (x + 3.5)) < 4 for got, x in zip(centres, xs, strict=True))
    assert c.render.order.partial(0) == c.render.order.partial(1) == 0
    for counts in c.counters.snapshot():  # 2 x 2 tiles: 4 items per inferred frame
        assert (counts["frames_inferred"], counts["work_items"], counts["frames_skipped"]) == (
            3, 12, 0)
        assert counts["frames_out"] == 3


def test_a_pass_through_item_reaches_the_sinks_with_no_people(
        chain: Callable[..., Chain], free_slots: Callable[[SharedRing], int]) -> None:
    c = chain(planner=NoItems(spec=SPEC), workers=2)
    c.decode(0, 0, square_x=128)  # a person there, but no network looks
    c.run(frames=1)
    (stream, frame, poses), = c.sink.written
    assert (stream, frame, len(poses)) == (0, 0, 0)
    assert c.infer.items == 0 and c.infer.batches == 0  # no model ran
    [counts] = c.counters.snapshot()  # counted as skipped, not inferred
    assert (counts["frames_inferred"], counts["work_items"], counts["frames_skipped"]) == (
        0, 0, 1)
    assert free_slots(c.frames[0]) == 4  # render released the frame
    c.end(0, 1)
    c.preprocess.step()
    c.infer.step()
    c.rng.choice(c.postprocess).step()
    assert c.render.step() is False  # the stream ended behind its pass-through frame
