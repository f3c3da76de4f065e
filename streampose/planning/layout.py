"""How many processes of each stage run, and which streams each one owns.

A :class:`ProcessLayout` is part of the run plan. It says:

- ``infer``: the inference workers, each with its device and thread count. They share
  the input ring (each forms its own batches); render restores each stream's order by
  ticket. On CUDA, ``--device cuda:0,cuda:1`` gives one worker per device; on the CPU
  the cores are split between the workers.
- ``preprocess`` / ``render``: the shards, each a tuple of the streams it owns (streams
  are dealt round-robin, so a shard may own several). One stream is owned by exactly one
  preprocess shard (its tickets) and one render shard (its order, tracker and outputs).

``auto`` sizes come from the streams and the cores (:func:`plan_layout`); every count
can be given instead (``[performance]`` ``infer_workers``, ``preprocess_shards``,
``render_shards``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from streampose.config.sections import PerformanceConfig

__all__ = ["InferWorker", "ProcessLayout", "available_cores", "plan_layout", "shard_streams"]

log = logging.getLogger(__name__)

# Cores per render shard and per preprocess shard when sized automatically: render
# (drawing + H.264 + JSON) costs about 3x what the letterbox does per frame.
CORES_PER_RENDER = 4
CORES_PER_PREPROCESS = 8
# Most inference workers ``auto`` starts on the CPU (each holds its own model session).
MAX_CPU_WORKERS = 8


@dataclass(frozen=True)
class InferWorker:
    """One inference process: its device and its backend threads (None: the backend's)."""

    device: str = "cpu"
    threads: int | None = None


@dataclass(frozen=True)
class ProcessLayout:
    """The processes of a run beyond one per stream (decode) and the postprocess workers."""

    infer: tuple[InferWorker, ...]
    preprocess: tuple[tuple[int, ...], ...]
    render: tuple[tuple[int, ...], ...]

    @classmethod
    def single(cls, streams: int, device: str = "cpu", threads: int | None = None) -> ProcessLayout:
        """One process of each: the layout of a run that asks for nothing else."""
        every = tuple(range(streams))
        return cls(infer=(InferWorker(device, threads),), preprocess=(every,), render=(every,))

    def preprocess_shard(self, stream: int) -> int:
        """The preprocess shard that owns ``stream``."""
        return _owner(self.preprocess, stream)

    def render_shard(self, stream: int) -> int:
        """The render shard that owns ``stream``."""
        return _owner(self.render, stream)

    def describe(self) -> str:
        """One line for the log: ``infer 2 (cuda:0, cuda:1), preprocess 1, render 2``."""
        devices = ", ".join(f"{w.device}" + (f"/{w.threads}t" if w.threads else "")
                            for w in self.infer)
        return (f"infer {len(self.infer)} ({devices}), preprocess {len(self.preprocess)}, "
                f"render {len(self.render)} {list(map(list, self.render))}")


def _owner(shards: Sequence[tuple[int, ...]], stream: int) -> int:
    for index, streams in enumerate(shards):
        if stream in streams:
            return index
    raise KeyError(f"stream {stream} belongs to no shard of {shards}")


def shard_streams(streams: int, shards: int) -> tuple[tuple[int, ...], ...]:
    """``streams`` dealt round-robin over ``shards`` (at most one shard per stream)."""
    shards = max(1, min(shards, streams))
    return tuple(tuple(range(i, streams, shards)) for i in range(shards))


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_layout(performance: PerformanceConfig, *, streams: int, devices: Sequence[str],
                threads: int | None = None, single_render: bool = False,
                cores: int | None = None) -> ProcessLayout:
    """The layout for ``streams`` streams on ``devices`` (those of ``--device``, one or
    more; empty: the CPU) with ``cores`` cores (default: this machine's).

    ``threads``: backend threads per inference worker as asked (``--threads``); unset,
    several CPU workers split the cores between them and one worker keeps the
    backend's default. ``single_render``: auto sizing keeps one render process (an
    output that must be one growing file, e.g. JSON lines of a live run).
    """
    cores = cores or available_cores()
    devices = tuple(devices) or ("cpu",)
    workers = performance.count("infer_workers") or _auto_workers(devices, threads, cores)
    infer = tuple(InferWorker(devices[i % len(devices)],
                              _threads(threads, workers, devices[i % len(devices)], cores))
                  for i in range(workers))
    preprocess = performance.count("preprocess_shards") or max(1, cores // CORES_PER_PREPROCESS)
    render = performance.count("render_shards") or (
        1 if single_render else max(1, cores // CORES_PER_RENDER))
    layout = ProcessLayout(infer=infer, preprocess=shard_streams(streams, preprocess),
                    render=shard_streams(streams, render))
    log.info("process layout: %s", layout.describe())
    return layout


def _auto_workers(devices: Sequence[str], threads: int | None, cores: int) -> int:
    """One worker per listed device on GPUs; on the CPU one single-threaded worker per
    core (at most :data:`MAX_CPU_WORKERS`): separate sessions scale better than one
    session's extra threads (on 2 cores, 1080p: 0.99 of the machine bound with two
    one-thread workers, 0.89 with one two-thread worker; README, Measured). With
    ``--threads`` given the user sized inference: one worker with that many threads."""
    if devices != ("cpu",):
        return len(devices)
    if threads is not None:
        return 1
    return max(1, min(MAX_CPU_WORKERS, cores))


def _threads(asked: int | None, workers: int, device: str, cores: int) -> int | None:
    """Backend threads of one of ``workers`` inference workers on ``device``."""
    if asked is not None or workers == 1 or device != "cpu":
        return asked
    return max(1, cores // workers)
