"""A seat's recordings: named by camera, opened only when recorded."""

from __future__ import annotations

from pathlib import Path

from streampose.config.camera import Camera
from streampose.outputs.factory import EncoderSettings
from streampose.stages.recording import open_recording, seat_recording
from streampose.transport.messages import FrameHeader


def test_a_slot_s_recordings_are_named_by_camera() -> None:
    assert seat_recording("rec/{camera}.mp4", 2, "door") == Path("rec/door.mp4")
    assert seat_recording("rec/out.mp4", 2, "door") == Path("rec/out_door.mp4")
    assert seat_recording("rec/s{stream}.mp4", 2, "door") == Path("rec/s2_door.mp4")
    assert seat_recording(None, 2, "door") is None


def _open(tmp_path: Path, camera: Camera, *, overwrite: bool = True) -> object:
    return open_recording(template=str(tmp_path / "{camera}.mp4"), encoder=EncoderSettings(),
                          overwrite=overwrite, stream=0, camera=camera,
                          header=FrameHeader(stream=0, seq=0, width=64, height=48))


def test_a_camera_that_is_not_recorded_has_no_recording(tmp_path: Path) -> None:
    camera = Camera(name="door", url="rtsp://cam/door", record=False)
    assert _open(tmp_path, camera) is None


def test_no_overwrite_keeps_an_existing_recording(tmp_path: Path) -> None:
    (tmp_path / "door.mp4").write_bytes(b"kept")
    assert _open(tmp_path, Camera(name="door", url="rtsp://cam/door"), overwrite=False) is None
    assert (tmp_path / "door.mp4").read_bytes() == b"kept"
