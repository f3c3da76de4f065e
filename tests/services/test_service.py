"""ServiceSet: services start in order, tick by phase (in order within one), stop in
reverse order, also when the run fails or a later service does not start."""

from __future__ import annotations

import pytest

from streampose.services.service import Phase, Service, ServiceSet


class Recorder(Service):
    def __init__(self, name: str, log: list[str], *, phase: Phase = Phase.REPORT,
                 fail_start: bool = False) -> None:
        self.name, self.log, self.phase, self.fail_start = name, log, phase, fail_start

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    def tick(self, now: float) -> None:
        self.log.append(f"tick {self.name} {now:g}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_services_start_tick_and_stop_in_order() -> None:
    log: list[str] = []
    services = ServiceSet([Recorder("summary", log), Recorder("status", log),
                           Recorder("view", log, phase=Phase.OBSERVE),
                           Recorder("cameras", log, phase=Phase.STEER),
                           Recorder("progress", log)])
    with services:
        services.tick(1.5)
    assert log == ["start summary", "start status", "start view", "start cameras",
                   "start progress",
                   "tick cameras 1.5", "tick view 1.5", "tick summary 1.5", "tick status 1.5",
                   "tick progress 1.5",
                   "stop progress", "stop cameras", "stop view", "stop status", "stop summary"]


def test_a_failed_run_still_stops_every_service() -> None:
    log: list[str] = []
    with pytest.raises(ValueError, match="stage died"), \
            ServiceSet([Recorder("a", log), Recorder("b", log)]):
        raise ValueError("stage died")
    assert log == ["start a", "start b", "stop b", "stop a"]


def test_a_service_that_cannot_start_stops_those_started_and_no_other() -> None:
    log: list[str] = []
    services = ServiceSet([Recorder("a", log), Recorder("b", log, fail_start=True),
                           Recorder("c", log)])
    with pytest.raises(RuntimeError, match="b cannot start"), services:
        pytest.fail("the body runs only once every service started")
    assert log == ["start a", "stop a"]


def test_the_base_service_does_nothing() -> None:
    service = Service()
    service.start()
    service.tick(0.0)
    service.stop()
    assert service.phase is Phase.REPORT
