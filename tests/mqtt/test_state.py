"""Camera states for the status messages: online, reconnecting (live only), offline."""

from __future__ import annotations

from streampose.mqtt.state import OFFLINE, ONLINE, RECONNECTING, CameraStates


def test_live_camera_without_frames_for_the_stale_time_is_reconnecting() -> None:
    states = CameraStates(live=[True, False], stale_s=5.0, started=100.0)
    assert states.update(101.0, [0, 0], [False, False]) == [ONLINE, ONLINE]
    assert states.update(104.0, [10, 10], [False, False]) == [ONLINE, ONLINE]
    assert states.update(109.0, [10, 10], [False, False]) == [ONLINE, ONLINE]
    # the file is slow (no new frame) but files do not reconnect
    assert states.update(109.5, [10, 10], [False, False]) == [RECONNECTING, ONLINE]
    assert states.update(110.0, [11, 10], [False, False]) == [ONLINE, ONLINE]


def test_ended_streams_are_offline() -> None:
    states = CameraStates(live=[True, False], stale_s=5.0, started=0.0)
    assert states.update(1.0, [3, 3], [True, True]) == [OFFLINE, OFFLINE]


def test_a_camera_silent_from_the_start_counts_from_the_run_start() -> None:
    states = CameraStates(live=[True], stale_s=2.0, started=50.0)
    assert states.update(51.9, [0], [False]) == [ONLINE]
    assert states.update(52.1, [0], [False]) == [RECONNECTING]
