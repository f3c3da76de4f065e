"""One camera state, one vocabulary, one staleness rule."""

from __future__ import annotations

import pytest

from streampose.observe.camera_state import (
    FINISHED,
    FLEET_STATES,
    OFFLINE,
    ONLINE,
    RECONNECTING,
    STALLED,
    STARTING,
    STATES,
    CameraReading,
    CameraStates,
    camera_state,
)


def reading(*, frames_in: int = 10, frames_out: int = 10, last: float | None = 100.0,
            live: bool = True, ended: bool = False, total: int | None = None) -> CameraReading:
    return CameraReading(frames_in=frames_in, frames_out=frames_out, last_frame=last,
                         live=live, ended=ended, total=total)


@pytest.mark.parametrize(("r", "now", "expected"), [
    (reading(frames_in=0, frames_out=0, last=None), 1000.0, STARTING),  # never framed
    (reading(frames_in=0, frames_out=0, last=None, ended=True), 1.0, OFFLINE),
    (reading(), 104.9, ONLINE),
    (reading(), 105.0, RECONNECTING),  # quiet for stale_s
    (reading(ended=True), 100.5, OFFLINE),  # the decoder gave up
    (reading(live=False, frames_out=4), 104.0, ONLINE),
    (reading(live=False, frames_out=4), 105.0, STALLED),  # a file with frames in flight
    (reading(live=False), 105.0, FINISHED),  # a file, every frame out, quiet
    (reading(live=False, ended=True), 100.1, FINISHED),  # its decoder ended: done now
    (reading(live=False, frames_out=4, ended=True), 100.1, ONLINE),  # still draining
    (reading(frames_out=10, total=10), 100.0, FINISHED),  # --max-frames reached
])
def test_camera_state(r: CameraReading, now: float, expected: str) -> None:
    assert camera_state(r, now=now, stale_s=5.0) == expected


def test_the_fleet_extends_the_vocabulary() -> None:
    assert FLEET_STATES[:len(STATES)] == STATES
    assert {"pending", "moved", "failing"} == set(FLEET_STATES) - set(STATES)


def test_states_follow_the_counters() -> None:
    states = CameraStates(live=[True, False], totals=[None, 20], stale_s=2.0)

    def tick(now: float, cam: int, file_in: int, file_out: int) -> list[str]:
        return states.update(now, [{"frames_in": cam, "frames_out": cam},
                                   {"frames_in": file_in, "frames_out": file_out}])

    assert tick(0.0, 0, 0, 0) == [STARTING, STARTING]
    assert tick(9.0, 0, 0, 0) == [STARTING, STARTING]  # slow start: not reconnecting
    assert tick(10.0, 5, 10, 5) == [ONLINE, ONLINE]
    assert tick(11.9, 5, 10, 5) == [ONLINE, ONLINE]
    assert tick(12.0, 5, 10, 5) == [RECONNECTING, STALLED]
    assert tick(12.5, 6, 20, 20) == [ONLINE, FINISHED]
    assert states.update(13.0, [{"frames_in": 6}, {"frames_in": 20, "frames_out": 20}],
                         [True, True]) == \
        [OFFLINE, FINISHED]
