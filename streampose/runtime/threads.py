"""Thread budgets: how many threads each stage process may use, decided in one place.

Every stage is its own process, and several libraries inside them start thread pools of
their own (ONNX Runtime, OpenCV, FFmpeg's decoder, x264). Left to their defaults each
pool sizes itself to the whole machine, so a 2-core box runs a dozen busy threads that
fight for the cores (on 2 cores ONNX Runtime's second thread cost 15.8 ms of CPU per
frame for little gain, and OpenCV's default pool made the letterbox cost 13 ms instead
of 7-11). :func:`plan_threads` is a pure function of the core count, the stage layout
(how many processes of each kind) and the user's overrides:

- **infer** (model on the CPU): the cores split between the inference workers
  (``cores // workers``, at least 1) as ONNX Runtime intra-op threads; on an
  accelerator 1 (the host side of a GPU session does little). Inter-op: 1 (the
  graph runs sequentially).
- **host stages** (decode, preprocess, postprocess, render): each process gets a fair
  share of the cores, ``cores // processes`` (every stage process counted, the CPU
  inference workers included), at least 1 and at most :data:`MAX_HOST_THREADS` (the
  libraries' extra threads pay less and less). That share is its OpenCV pool, its
  decoder threads (decode) and its x264 threads, split between the streams a render
  process encodes.
- **overrides**: any value set in :class:`ThreadSettings` (from the config) replaces
  the computed one for every process of that kind.

No process gets more threads than there are cores, so none oversubscribes the machine
on its own. :func:`available_cores` is the process's CPU affinity (what ``taskset`` or a
container allows), not the machine's count.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["HOST_KINDS", "MAX_HOST_THREADS", "ThreadBudget", "ThreadPlan", "ThreadSettings",
           "apply_opencv_threads", "available_cores", "plan_threads"]

log = logging.getLogger(__name__)

HOST_KINDS = ("decode", "preprocess", "postprocess", "render")
MAX_HOST_THREADS = 4


@dataclass(frozen=True)
class ThreadSettings:
    """The user's overrides; ``None`` leaves a choice to the plan."""

    cores: int | None = None
    intra_op: int | None = None
    inter_op: int | None = None
    opencv: int | None = None
    decode: int | None = None
    encoder: int | None = None


@dataclass(frozen=True)
class ThreadBudget:
    """One stage process's threads: its OpenCV pool, and what its libraries get.

    ``intra_op``/``inter_op``: the inference session's (infer only); ``decode``: the
    video decoder's (decode only); ``encoder``: x264's per output video (render only).
    ``None``: that library is not this kind's business.
    """

    kind: str
    opencv: int = 1
    intra_op: int | None = None
    inter_op: int | None = None
    decode: int | None = None
    encoder: int | None = None

    def describe(self) -> str:
        """``opencv 1, decode 1``: the set values, for the start-up log."""
        names = ("opencv", "intra_op", "inter_op", "decode", "encoder")
        values = ((n, getattr(self, n)) for n in names)
        return ", ".join(f"{n} {v}" for n, v in values if v is not None)


@dataclass(frozen=True)
class ThreadPlan:
    """Every stage kind's budget, for ``cores`` cores and ``layout`` (processes per kind)."""

    cores: int
    layout: Mapping[str, int]
    budgets: Mapping[str, ThreadBudget] = field(default_factory=dict)

    def budget(self, kind: str) -> ThreadBudget:
        """The budget of a stage kind (a kind the plan does not know gets 1 thread)."""
        return self.budgets.get(kind) or ThreadBudget(kind=kind)

    def log(self, logger: logging.Logger = log) -> None:
        """One INFO line per stage kind."""
        for kind, budget in self.budgets.items():
            logger.info("threads: %s x%d of %d cores: %s", kind, self.layout.get(kind, 1),
                        self.cores, budget.describe())


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_threads(cores: int, layout: Mapping[str, int], settings: ThreadSettings | None = None,
                 *, cpu_inference: bool = True, streams: int = 1) -> ThreadPlan:
    """The thread plan for ``cores`` cores and ``layout`` ({kind: processes}); see the
    module notes. ``cpu_inference``: the model runs on the CPU; ``streams``: how many
    streams the render processes encode between them."""
    settings = settings or ThreadSettings()
    cores = max(1, settings.cores or cores)
    counts = {kind: max(1, n) for kind, n in layout.items()}
    infer_n = counts.get("infer", 1)
    processes = sum(n for kind, n in counts.items() if kind != "infer" or cpu_inference)
    share = max(1, min(MAX_HOST_THREADS, cores // max(1, processes)))
    per_render = -(-max(1, streams) // counts.get("render", 1))  # streams per render process
    budgets = {
        "decode": ThreadBudget("decode", opencv=share, decode=share),
        "preprocess": ThreadBudget("preprocess", opencv=share),
        "infer": ThreadBudget("infer", opencv=1, inter_op=1,
                              intra_op=max(1, cores // infer_n) if cpu_inference else 1),
        "postprocess": ThreadBudget("postprocess", opencv=share),
        "render": ThreadBudget("render", opencv=share, encoder=max(1, share // per_render)),
    }
    return ThreadPlan(cores=cores, layout=counts,
                      budgets={k: _overridden(b, settings) for k, b in budgets.items()})


def _overridden(budget: ThreadBudget, settings: ThreadSettings) -> ThreadBudget:
    """``budget`` with the user's values where this kind uses them."""
    changes: dict[str, Any] = {}
    if settings.opencv is not None:
        changes["opencv"] = settings.opencv
    for name in ("intra_op", "inter_op", "decode", "encoder"):
        value = getattr(settings, name)
        if value is not None and getattr(budget, name) is not None:
            changes[name] = value
    return replace(budget, **changes)


def apply_opencv_threads(budget: ThreadBudget | None) -> None:
    """Size this process's OpenCV pool, if the process uses OpenCV (already imported):
    a stage that never imports cv2 does not pay for importing it here."""
    if budget is None or "cv2" not in sys.modules:
        return
    cv2 = sys.modules["cv2"]
    cv2.setNumThreads(budget.opencv)
    log.debug("%s: OpenCV threads %d", budget.kind, budget.opencv)
