"""A stream's settings: the run's, with its camera's own (the one override rule)."""

from __future__ import annotations

from streampose.config.camera import Camera
from streampose.config.overrides import StreamSettings
from streampose.config.sections import DrawConfig, LiveConfig

RUN = StreamSettings(live=LiveConfig(rtsp_transport="tcp"), draw=DrawConfig(blur_faces=False))


def test_without_a_camera_the_run_s_settings_are_kept_as_they_are() -> None:
    assert RUN.for_camera(None) is RUN
    assert RUN.poses and RUN.record


def test_a_camera_s_unset_options_follow_the_run() -> None:
    own = RUN.for_camera(Camera(name="door", url="rtsp://cam/door"))
    assert own.live is RUN.live and own.draw is RUN.draw
    assert own.poses and own.record


def test_a_camera_s_own_options_win() -> None:
    camera = Camera(name="door", url="rtsp://cam/door", transport="udp", record=False,
                    draw=False, blur_faces=True)
    own = RUN.for_camera(camera)
    assert own.live.rtsp_transport == "udp" and own.draw.blur_faces is True
    assert own.poses is False and own.record is False
    assert own.live.stall_timeout_s == RUN.live.stall_timeout_s  # the rest is the run's
    assert RUN.live.rtsp_transport == "tcp"  # the run's own are unchanged
