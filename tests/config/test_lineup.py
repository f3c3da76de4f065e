"""The run's lineup: each stream's camera at the start, for both kinds of run."""

from __future__ import annotations

from streampose.config.camera import Camera
from streampose.config.lineup import lineup
from streampose.config.overrides import StreamSettings
from streampose.config.sections import DrawConfig, LiveConfig

RUN = StreamSettings(live=LiveConfig(), draw=DrawConfig())
DOOR = Camera(name="door", url="rtsp://cam/door", record=False, blur_faces=True)
YARD = Camera(name="yard", url="rtsp://cam/yard")


def test_a_fixed_run_s_sources_are_cameras_named_after_their_uris() -> None:
    run = lineup((), ["/v/entrance.mp4", "/w/entrance.mp4", "rtsp://u:pw@cam7/live"], RUN,
                 changing=False)
    assert run.names == ("entrance", "entrance-2", "cam7-live")
    assert run.recorded == (True, True, True)
    assert not run.changing and not run.named
    assert all(s is not None and s.camera is None and s.settings is RUN for s in run.streams)


def test_a_cameras_file_s_cameras_bring_their_names_and_overrides() -> None:
    run = lineup((DOOR, YARD), ["rtsp://cam/door", "rtsp://cam/yard"], RUN, changing=False)
    assert run.names == ("door", "yard") and run.recorded == (False, True) and run.named
    door = run.streams[0]
    assert door is not None and door.camera is DOOR and door.settings.draw.blur_faces is True


def test_seats_without_a_camera_are_idle() -> None:
    run = lineup((DOOR,), ["rtsp://cam/door", "", ""], RUN, changing=True)
    assert run.streams[1:] == (None, None)
    assert run.names == ("door", "", "") and run.recorded == (False, False, False)
    assert run.changing and run.named
    assert lineup((), ["", ""], RUN, changing=True).named  # no camera yet: names to come
