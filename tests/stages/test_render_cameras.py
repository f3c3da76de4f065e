"""Render's per-camera state: made per stream, a seat's camera attached and detached."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streampose.cameras.seats import SeatTable
from streampose.config.camera import Camera
from streampose.outputs.factory import EncoderSettings
from streampose.pose import Poses, get_skeleton
from streampose.stages.render_cameras import CameraMakers, RenderCamera, RenderCameras
from streampose.transport.messages import FrameHeader

CTX = mp.get_context("spawn")
HEADER = FrameHeader(stream=0, seq=0, width=32, height=24)


@dataclass
class Slots:
    """The seat outputs render follows a seat's cameras with (no recording template)."""

    table: SeatTable
    template: str | None = None
    encoder: EncoderSettings = field(default_factory=EncoderSettings)
    overwrite: bool = True

    def annotators(self, camera: Camera) -> list[Any]:
        return [f"drawing for {camera.name}"]


class Tracker:
    made = 0

    def __init__(self) -> None:
        Tracker.made += 1
        self.number = Tracker.made

    def update(self, poses: Poses) -> Poses:
        return poses


def states(slots: Slots | None, owned: tuple[int, ...] = (0, 1)) -> RenderCameras:
    return RenderCameras(streams=2, owned=owned,
                        makers=CameraMakers(annotators=lambda s: [f"drawing {s}"],
                                            tracker=Tracker, cameras=["cam0", "cam1"],
                                            seats=slots))


def test_each_owned_stream_gets_its_own_parts() -> None:
    made = states(None, owned=(1,))
    assert made[1].name == "cam1" and made[1].annotators == ["drawing 1"]
    assert isinstance(made[1].tracker, Tracker) and made[1].engine is None
    assert made[0].name == "cam0" and made[0].tracker is None and made[0].annotators == []
    assert not made.needs_attach(1)  # no seat table: nothing to attach


def test_a_seat_s_camera_is_attached_at_its_first_frame_and_forgotten_at_detach() -> None:
    table = SeatTable(seats=2, ctx=CTX)
    made = states(Slots(table))
    assert made.needs_attach(0)
    assert made.attach(0, HEADER) is None  # no camera yet: nothing changes
    assert made.needs_attach(0) and made[0].name == "cam0"
    door = Camera(name="door", url="rtsp://cam/door")
    table.assign(0, door)
    first = made[0].tracker
    state = made.attach(0, HEADER)
    assert state is made[0] and state.camera == door and state.name == "door"
    assert state.annotators == ["drawing for door"] and state.tracker is not first
    assert state.recording is None and not made.needs_attach(0)  # no -o: not recorded
    assert made.detach(0) == (door, None)
    assert state.tracker is None and state.camera is None and made.needs_attach(0)
    assert state.name == "door"  # until the next camera's first frame
    table.release(0)
    made.drained(0, table.generation(0))
    assert table.is_free(0)


def test_a_seat_s_camera_is_recorded_from_its_first_frame(tmp_path: Path) -> None:
    table = SeatTable(seats=2, ctx=CTX)
    made = states(Slots(table, template=str(tmp_path / "{camera}.mp4")))
    table.assign(1, Camera(name="yard", url="rtsp://cam/yard"))
    state = made.attach(1, FrameHeader(stream=1, seq=0, width=32, height=24))
    assert state is not None and state.recording is not None
    _, recording = made.detach(1)
    assert recording is not None and state.recording is None
    recording.close()
    assert (tmp_path / "yard.mp4").exists()


def test_a_fixed_seat_s_camera_is_attached_once_its_video_left_to_the_run_s_sinks() -> None:
    """A fixed run's seats hold their cameras from the start: each is attached at its
    first frame with fresh parts, and not recorded here (no template: the run's sinks)."""
    table = SeatTable(seats=2, ctx=CTX, changing=False)
    entrance = Camera(name="cam0", url="/v/entrance.mp4")
    table.assign(0, entrance)
    made = states(Slots(table))
    first = made[0].tracker
    state = made.attach(0, HEADER)
    assert state is not None and state.camera == entrance and state.name == "cam0"
    assert state.tracker is not first and state.recording is None
    assert state.annotators == ["drawing for cam0"] and not made.needs_attach(0)


def test_a_camera_state_draws_its_rules_under_its_poses() -> None:
    drawn: list[str] = []

    class Draws:
        def __init__(self, name: str) -> None:
            self.name = name

        def annotate(self, frame: np.ndarray, poses: Poses, **_: object) -> None:
            drawn.append(self.name)

    state = RenderCamera(annotators=[Draws("poses")], rules=Draws("rules"))
    poses = Poses.empty(get_skeleton("coco18"))
    state.draw(np.zeros((2, 2, 3), np.uint8), poses)
    assert drawn == ["rules", "poses"]
    assert state.track(poses) is poses  # no tracker, no engine: unchanged, no events
    assert state.events(None, poses) == []  # type: ignore[arg-type]


def test_a_frame_not_inferred_carries_the_frame_before_s_tracked_people() -> None:
    from streampose.pose.carry import PoseCarry
    from streampose.pose.tracking import PoseTracker

    skeleton = get_skeleton("coco18")
    state = RenderCamera(tracker=PoseTracker(), carry=PoseCarry())
    frame = np.full((120, 160, 3), 90, np.uint8)
    frame[40:72, 40:72] = np.random.default_rng(0).integers(0, 255, (32, 32, 1), np.uint8)
    kp = np.zeros((1, skeleton.num_keypoints, 3), np.float32)
    kp[0, :3] = [(50, 50, 0.8), (60, 55, 0.8), (45, 65, 0.8)]
    found = state.follow(Poses(kp, np.ones(1, np.float32), skeleton), frame, inferred=True)
    moved = np.roll(frame, (3, 6), axis=(0, 1))
    nobody = Poses.empty(skeleton)
    carried = state.follow(nobody, moved, inferred=False)
    assert len(carried) == 1 and carried.track_ids.tolist() == found.track_ids.tolist()
    assert carried.inferred is not None and not carried.inferred.any()
    assert np.allclose(carried.keypoints[0, 0, :2], [56, 53], atol=0.5)
    assert state.tracker.num_tracks == 1


def test_without_a_carry_a_frame_is_tracked_as_it_came() -> None:
    state = RenderCamera()
    nobody = Poses.empty(get_skeleton("coco18"))
    assert state.follow(nobody, None, inferred=False) is nobody
