"""The run summary's steady rate with one render process and with render shards."""

from __future__ import annotations

import pytest

from streampose.observe.summary import Summary


def summary(*renders: dict[str, object]) -> Summary:
    return Summary(streams=[], stages=[{"stage": "infer", "items": 99}, *renders], wall_s=1.0)


def test_one_render_gives_its_own_steady_rate() -> None:
    assert summary({"stage": "render", "items": 10, "steady_fps": 4.5}).steady_fps == 4.5
    assert summary({"stage": "render", "items": 1}).steady_fps is None


def test_render_shards_add_up_over_the_whole_span() -> None:
    shards = summary(
        {"stage": "render0", "items": 11, "steady_fps": 5.0, "first_out_at": 100.0,
         "last_out_at": 102.0},
        {"stage": "render1", "items": 10, "steady_fps": 3.0, "first_out_at": 101.0,
         "last_out_at": 104.0})
    assert shards.steady_fps == pytest.approx(20 / 4.0)  # 21 frames from 100 s to 104 s
    assert summary({"stage": "render0", "items": 0}, {"stage": "render1", "items": 0}
                   ).steady_fps is None
