"""The process layout: inference workers per device or per core share, shards of streams
sized from the streams and the cores, and every count overridable."""

from __future__ import annotations

import pytest

from streampose.backends.devices import parse_devices
from streampose.config import PerformanceConfig
from streampose.errors import ConfigError
from streampose.planning.layout import InferWorker, ProcessLayout, plan_layout, shard_streams


def layout(streams: int = 4, devices: tuple[str, ...] = (), cores: int = 2,
           threads: int | None = None, single_render: bool = False, **counts: str) -> ProcessLayout:
    return plan_layout(PerformanceConfig(**counts), streams=streams, devices=devices,
                       threads=threads, single_render=single_render, cores=cores)


def test_streams_are_dealt_round_robin_and_never_to_an_empty_shard() -> None:
    assert shard_streams(5, 2) == ((0, 2, 4), (1, 3))
    assert shard_streams(2, 8) == ((0,), (1,))
    assert shard_streams(3, 1) == ((0, 1, 2),)


def test_a_device_list_gives_one_worker_per_device() -> None:
    devices = parse_devices("cuda:0,cuda:1")
    assert devices == ("cuda:0", "cuda:1")
    plan = layout(devices=devices, cores=16)
    assert plan.infer == (InferWorker("cuda:0"), InferWorker("cuda:1"))


def test_more_workers_than_devices_share_them_in_turn() -> None:
    plan = layout(devices=parse_devices("cuda:0, cuda:1"), infer_workers="3")
    assert [w.device for w in plan.infer] == ["cuda:0", "cuda:1", "cuda:0"]
    assert all(w.threads is None for w in plan.infer)  # threads split only on the CPU


def test_cpu_workers_split_the_cores_unless_threads_are_given() -> None:
    assert layout(cores=8, infer_workers="3").infer == (InferWorker("cpu", 2),) * 3
    assert layout(cores=2, infer_workers="4").infer == (InferWorker("cpu", 1),) * 4
    assert layout(cores=8, infer_workers="2", threads=3).infer == (InferWorker("cpu", 3),) * 2
    assert layout(cores=8, infer_workers="1").infer == (InferWorker("cpu", None),)  # default


@pytest.mark.parametrize(("cores", "threads", "workers"), [
    (1, None, 1), (2, None, 2), (8, None, 8), (64, None, 8), (8, 2, 1), (2, 4, 1)])
def test_auto_on_the_cpu_is_one_worker_per_core_up_to_eight_unless_threads_given(
    cores: int, threads: int | None, workers: int
) -> None:
    """Separate sessions scale better than one session's extra threads (README,
    Measured); ``--threads`` given: the user sized inference, one worker."""
    plan = layout(cores=cores, threads=threads)
    expected = threads if threads is not None else (None if workers == 1 else cores // workers)
    assert plan.infer == (InferWorker("cpu", expected),) * workers


def test_auto_on_gpus_is_one_worker_per_device() -> None:
    assert len(layout(devices=parse_devices("cuda:0"), cores=16).infer) == 1
    assert len(layout(devices=parse_devices("cuda:0,cuda:1"), cores=16).infer) == 2


def test_auto_shards_follow_streams_and_cores() -> None:
    small = layout(streams=4, cores=2)
    assert (small.preprocess, small.render) == (((0, 1, 2, 3),), ((0, 1, 2, 3),))
    big = layout(streams=16, cores=16)
    assert len(big.preprocess) == 2 and len(big.render) == 4
    assert big.render[1] == (1, 5, 9, 13) and big.render_shard(13) == 1
    assert big.preprocess_shard(3) == 1
    assert len(layout(streams=3, cores=64).render) == 3  # never more than the streams
    assert len(layout(streams=16, cores=16, single_render=True).render) == 1
    assert len(layout(streams=16, cores=16, single_render=True, render_shards="2").render) == 2


def test_given_counts_win() -> None:
    plan = layout(streams=4, cores=2, preprocess_shards="2", render_shards="4")
    assert plan.preprocess == ((0, 2), (1, 3)) and len(plan.render) == 4
    assert "render 4" in plan.describe()


def test_a_single_layout_has_one_of_each() -> None:
    plan = ProcessLayout.single(3, "cuda:1", 2)
    assert plan.infer == (InferWorker("cuda:1", 2),)
    assert plan.preprocess == plan.render == ((0, 1, 2),)
    with pytest.raises(KeyError, match="stream 3"):
        plan.render_shard(3)


@pytest.mark.parametrize("text", ["cuda:0,", "cuda:0,gpu1", "cpu,cuda:0", "cuda:x,cuda:1"])
def test_a_bad_device_list_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--device"):
        parse_devices(text)


def test_one_device_passes_as_given() -> None:
    assert parse_devices(None) == ()
    assert parse_devices("cuda") == ("cuda",) and parse_devices("cpu") == ("cpu",)


@pytest.mark.parametrize("field", ["infer_workers", "preprocess_shards", "render_shards"])
@pytest.mark.parametrize("value", ["0", "two", "-1", "65", ""])
def test_counts_are_auto_or_a_number(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{field}.*'auto' or a whole number"):
        PerformanceConfig(**{field: value})
    assert PerformanceConfig(**{field: "4"}).count(field) == 4
    assert PerformanceConfig().count(field) is None
