"""Which frames of a stream the network runs on (``--interval``)."""

from __future__ import annotations

import pytest

from streampose.errors import ConfigError
from streampose.planning.interval import (
    AutoIntervalPolicy,
    Cadence,
    FrameView,
    IntervalPolicy,
    carries,
    interval_policy,
)


def inferred(cadence: Cadence, stream: int, frames: int) -> list[int]:
    return [i for i in range(frames) if cadence.next(stream)]


@pytest.mark.parametrize(("interval", "frames"), [
    (0, list(range(8))), (1, [0, 2, 4, 6]), (2, [0, 3, 6]), (30, [0])])
def test_every_n_plus_1th_frame_is_inferred(interval: int, frames: list[int]) -> None:
    cadence = Cadence(policy=IntervalPolicy(interval), streams=1)
    assert inferred(cadence, 0, 8) == frames


def test_the_policy_is_a_pure_rule_on_frames_since_the_last_inferred() -> None:
    policy = IntervalPolicy(2)
    assert policy.infers(None)  # nothing inferred yet
    assert [policy.infers(since) for since in (1, 2, 3, 4)] == [False, False, True, True]


def test_each_stream_has_its_own_cadence() -> None:
    cadence = Cadence(policy=IntervalPolicy(1), streams=2)
    assert [cadence.next(0), cadence.next(0), cadence.next(1), cadence.next(0)] == \
        [True, False, True, True]
    assert cadence.next(1) is False


def test_a_new_camera_s_first_frame_is_inferred() -> None:
    cadence = Cadence(policy=IntervalPolicy(3), streams=1)
    assert cadence.next(0) and not cadence.next(0)
    cadence.restart(0)
    assert inferred(cadence, 0, 5) == [0, 4]


def auto_inferred(cadence: Cadence, views: list[FrameView]) -> list[int]:
    return [i for i, view in enumerate(views) if cadence.next(0, view)]


def test_auto_a_calm_scene_grows_the_interval_to_the_max() -> None:
    cadence = Cadence(policy=AutoIntervalPolicy(interval_max=2), streams=1)
    calm = [FrameView(speed=0.01)] * 12
    assert auto_inferred(cadence, calm) == [0, 2, 5, 8, 11]
    assert cadence.current(0) == 2
    cadence = Cadence(policy=AutoIntervalPolicy(interval_max=4), streams=1)
    assert auto_inferred(cadence, [FrameView()] * 16) == [0, 2, 5, 9, 14]  # nobody: calm


def test_auto_new_motion_has_the_next_frame_inferred_and_starts_over() -> None:
    cadence = Cadence(policy=AutoIntervalPolicy(interval_max=2), streams=1)
    views = [FrameView(speed=0.0)] * 12
    views[6] = FrameView(new_motion=True, speed=0.0)  # frame 6 would have been carried
    assert auto_inferred(cadence, views) == [0, 2, 5, 6, 7, 9]  # 0, then 1, 2 again


def test_auto_fast_motion_infers_every_frame() -> None:
    policy = AutoIntervalPolicy(interval_max=3, drift=0.15)
    cadence = Cadence(policy=policy, streams=1)
    views = [FrameView(speed=0.01)] * 6 + [FrameView(speed=0.2)] * 6
    assert auto_inferred(cadence, views) == [0, 2, 5, 6, 7, 8, 9, 10, 11]
    assert cadence.current(0) == 0


@pytest.mark.parametrize(("speed", "allowed"), [
    (None, 3), (0.0, 3), (0.03, 3), (0.05, 2), (0.06, 1), (0.075, 1), (0.1, 0), (0.5, 0)])
def test_auto_the_speed_caps_the_interval_by_the_drift(speed: float | None,
                                                       allowed: int) -> None:
    """(n + 1) * speed <= drift: nobody moves more than 0.15 box heights unseen."""
    assert AutoIntervalPolicy(interval_max=3, drift=0.15).allowed(speed) == allowed


def test_auto_a_slowdown_lengthens_one_step_per_inferred_frame() -> None:
    policy = AutoIntervalPolicy(interval_max=2)
    assert policy.step(1, 0, FrameView(speed=0.2)) == (True, 0)
    assert policy.step(1, 0, FrameView(speed=0.01)) == (True, 1)
    assert policy.step(1, 1, FrameView(speed=0.01)) == (False, 1)
    assert policy.step(2, 1, FrameView(speed=0.01)) == (True, 2)
    assert policy.step(2, 2, FrameView(speed=0.12)) == (True, 1)  # cut at once


def test_auto_a_new_camera_starts_at_interval_0() -> None:
    cadence = Cadence(policy=AutoIntervalPolicy(interval_max=2), streams=1)
    auto_inferred(cadence, [FrameView()] * 6)
    cadence.restart(0)
    assert cadence.current(0) == 0
    assert auto_inferred(cadence, [FrameView()] * 3) == [0, 2]


def test_the_config_value_picks_the_policy() -> None:
    assert interval_policy(0) == IntervalPolicy(0)
    assert interval_policy(3) == IntervalPolicy(3)
    assert interval_policy("auto", 4) == AutoIntervalPolicy(interval_max=4)
    with pytest.raises(ConfigError, match=r"\[model\].interval = 'fast': expected"):
        interval_policy("fast")
    assert carries("auto") and carries(1) and not carries(0)
