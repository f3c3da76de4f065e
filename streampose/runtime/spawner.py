"""How stage processes start: forked from a server that imported the heavy modules once.

With Python's ``spawn`` start method every stage is a fresh interpreter that imports
numpy, PyAV and streampose's stage modules again (about 0.2-0.4 s of CPU each, six or
more stage processes per run: most of a 2-core machine's first second). The
``forkserver`` method starts one clean, single-threaded server process that imports them
once (:data:`PRELOAD`); each stage is then a fork of it (copy-on-write, milliseconds).
Unlike a plain fork of the parent it is safe when the parent runs threads (the console's
web server, the MQTT client, the status display).

The server is started with SIGINT/SIGTERM blocked, and a fork keeps the signal mask: a
stage starts with them blocked and unblocks them once it ignores them (the supervisor
alone handles shutdown, also when a service manager signals the whole process group),
and the server itself outlives a SIGTERM sent to the group while stages still need it.
It and the resource tracker keep SIGHUP blocked (a reload request to a cameras run).
It exits on its own when this process ends.

:func:`warm` starts the server early (the pipeline calls it before probing the sources),
so that its imports overlap the parent's own start-up work. Its environment is this
process's at that moment, with numpy's BLAS pool at one thread (no stage multiplies large
matrices, and a single-threaded server forks cleanly). ONNX Runtime is not preloaded: its
import starts a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from multiprocessing import forkserver, get_context, resource_tracker
from multiprocessing.context import ForkServerContext

from streampose.runtime.stage import SHUTDOWN_SIGNALS

__all__ = ["PRELOAD", "blocked", "context", "warm"]

log = logging.getLogger(__name__)

PRELOAD = ("numpy", "av", "cv2", "streampose.runtime.stage", "streampose.stages.decode",
           "streampose.stages.preprocess", "streampose.stages.infer",
           "streampose.stages.postprocess", "streampose.stages.render")
_SERVER_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def context() -> ForkServerContext:
    """The multiprocessing context stages start with (the fork server, preloaded)."""
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def warm() -> ForkServerContext:
    """Start the fork server now if it is not running (idempotent); its context."""
    ctx = context()
    # SIGHUP stays blocked in both helper processes (a fork keeps the mask, and so does
    # exec): a SIGHUP to the whole group (a cameras run's "re-read the file", a closed
    # terminal) must not end the fork server, whose stages would see their parent gone,
    # nor the resource tracker.
    with blocked((signal.SIGHUP,)):
        # The server inherits the resource tracker's fd; starting the tracker unblocks
        # the shutdown signals, so it goes first, outside their blocked section.
        resource_tracker.ensure_running()
        with blocked(SHUTDOWN_SIGNALS), _environment(_SERVER_ENV):
            forkserver.ensure_running()
    return ctx


@contextlib.contextmanager
def blocked(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """``signals`` blocked in this thread (they wait, pending) for the block's duration;
    a process started meanwhile inherits the mask."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in the environment (unless the user set them) for the block."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
