"""Render's sink set: every sink in turn, errors named, recordings joining and leaving."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from streampose.errors import OutputError
from streampose.outputs.base import FrameMeta, Sink
from streampose.pose import Poses
from streampose.stages.sink_set import SinkSet, guarded

META = FrameMeta(stream=0, frame=0, pts=0, pts_s=0.0, wall=0.0, image_id=0)


class Log(Sink):
    def __init__(self, name: str, log: list[str], *, wants_image: bool = False,
                 wants_events: bool = False, fails: str | None = None) -> None:
        self.name, self.log, self.fails = name, log, fails
        self.wants_image, self.wants_events = wants_image, wants_events

    def _do(self, action: str) -> None:
        if action == self.fails:
            raise OSError(f"{self.name} cannot {action}")
        self.log.append(f"{action} {self.name}")

    def open(self) -> None:
        self._do("open")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        self._do("write")

    def write_events(self, meta: FrameMeta, events: object) -> None:
        self._do("events")

    def close(self) -> None:
        self._do("close")


def test_an_os_error_becomes_an_output_error_naming_the_sink() -> None:
    sink = Log("a", [], fails="write")
    with pytest.raises(OutputError, match="output Log: cannot write"):
        guarded(sink, "write", sink.write, META, None, None)


def test_sinks_are_written_in_order_and_events_go_to_those_that_want_them() -> None:
    log: list[str] = []
    sinks = SinkSet([Log("a", log), Log("b", log, wants_events=True)])
    sinks.open()
    assert not sinks.needs_image
    sinks.write(META, None, None)  # type: ignore[arg-type]
    sinks.write_events(META, ["enter"])
    sinks.close()
    assert log == ["open a", "open b", "write a", "write b", "events b", "close a", "close b"]


def test_an_adopted_sink_is_written_last_and_dropped_closes_it() -> None:
    log: list[str] = []
    sinks = SinkSet([Log("a", log)])
    sinks.open()
    recording = Log("rec", log, wants_image=True)
    sinks.adopt(recording)
    assert sinks.needs_image
    sinks.write(META, None, None)  # type: ignore[arg-type]
    sinks.drop(recording)
    sinks.close()
    assert log == ["open a", "write a", "write rec", "close rec", "close a"]


def test_a_dropped_sink_failing_to_close_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sinks = SinkSet([])
    sinks.open()
    broken = Log("rec", [], fails="close")
    sinks.adopt(broken)
    with caplog.at_level(logging.ERROR):
        sinks.drop(broken)
    assert "cannot close" in caplog.text
    sinks.close()  # not closed twice


def test_closing_goes_on_past_a_failure_and_raises_the_first() -> None:
    log: list[str] = []
    sinks = SinkSet([Log("a", log, fails="close"), Log("b", log)])
    sinks.open()
    with pytest.raises(OutputError, match="Log: cannot close"):
        sinks.close()
    assert log == ["open a", "open b", "close b"]


def test_a_stream_s_sinks_take_its_new_camera_s_name() -> None:
    class PerStream(Log):
        def __init__(self, stream: int) -> None:
            super().__init__("s", [])
            self.stream, self.camera = stream, "old"

    class Named(Log):
        def __init__(self) -> None:
            super().__init__("n", [])
            self.cameras = ["a", "b"]

    mine, other, named = PerStream(1), PerStream(0), Named()
    SinkSet([mine, other, named]).rename(1, "door")
    assert (mine.camera, other.camera, named.cameras) == ("door", "old", ["a", "door"])
