"""Progress lines for a run whose output is not a terminal."""

from __future__ import annotations

import io

from streampose.observe.metrics import MetricsSnapshot
from streampose.observe.progress_log import ProgressLog, progress_line
from streampose.observe.summary import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def _progress(done: int, elapsed: float, totals: list[int | None] | None = None,
              live: MetricsSnapshot | None = None) -> Progress:
    streams = [{"frames_out": done, "dropped": 2}]
    return Progress(streams, [770] if totals is None else totals, elapsed, live=live)


def test_a_line_says_frames_of_the_total_fps_and_drops() -> None:
    assert progress_line(_progress(231, 30.0)) == (
        "streampose: 30 s, 231/770 frames out (30%), 7.7 fps, 2 dropped")


def test_a_line_without_a_known_total_and_with_camera_states() -> None:
    live = MetricsSnapshot(streams=[{"stream": 0, "camera": "door", "state": "online"},
                                    {"stream": 1, "camera": None, "state": "reconnecting"}])
    assert progress_line(_progress(100, 10.0, [None], live)) == (
        "streampose: 10 s, 100 frames out, 10.0 fps, 2 dropped; door online, "
        "stream1 reconnecting")


def test_one_line_every_interval_the_first_after_one_interval() -> None:
    out, clock = io.StringIO(), _Clock()
    log = ProgressLog(every_s=10.0, stream=out, clock=clock)
    for second in range(0, 36):  # a tick a second for 35 s
        clock.now = 50.0 + second
        log(_progress(10 * second, float(second)))
    log.finish()
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "streampose: 10 s", "streampose: 20 s", "streampose: 30 s"]


def test_late_ticks_give_one_line_not_a_burst() -> None:
    out, clock = io.StringIO(), _Clock()
    log = ProgressLog(every_s=1.0, stream=out, clock=clock)
    log(_progress(0, 0.0))
    clock.now += 30  # the supervisor was busy for 30 s
    log(_progress(300, 30.0))
    log(_progress(300, 30.0))
    clock.now += 0.5
    log(_progress(305, 30.5))
    assert len(out.getvalue().splitlines()) == 1


def test_zero_seconds_writes_nothing() -> None:
    out, clock = io.StringIO(), _Clock()
    log = ProgressLog(every_s=0.0, stream=out, clock=clock)
    for second in range(100):
        clock.now += second
        log(_progress(second, float(second)))
    assert out.getvalue() == ""
