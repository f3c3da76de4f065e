"""The streaming Python API: each frame's result in the caller's own loop, while the
staged pipeline runs.

    import streampose

    if __name__ == "__main__":  # a script's guard (see below); a notebook needs none
        with streampose.stream("in.mp4", model="model.onnx") as results:
            for result in results:
                print(result.camera, result.frame, len(result.poses), result.events)

:func:`stream` (or :meth:`streampose.Pipeline.stream`) runs the pipeline in a background
thread of this process (its stages are processes, as with ``run()``) and returns a
:class:`Stream`: an iterator of :class:`~streampose.outputs.stream.FrameResult`, in order
per stream, and a context manager. The results come from the render processes through the
run's bounded ``caller`` queue (:mod:`streampose.outputs.stream`): a slow caller slows a
file's run, and a live camera's results beyond the queue are dropped, counted in each
next result's ``dropped``, in :attr:`Stream.dropped` and in the summary's
``stream_dropped``.

Breaking out of the loop (the stream is closed when the last reference goes: use
``with`` to close it at a known point), :meth:`Stream.close`, an exception in the
caller's loop or Ctrl-C stop the run: the sources stop, the frames in flight are drained
(their results discarded), every stage exits and nothing of the run is left in
``/dev/shm``. A run's failure is raised by the iteration (or by ``close()``).

A script must guard its entry point with ``if __name__ == "__main__":``: the stages'
fork server imports the main module of a script (not of a notebook or the REPL).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from streampose.outputs.stream import FrameResult, StreamEnd

if TYPE_CHECKING:
    from streampose.observe.summary import Summary
    from streampose.pipeline import Pipeline

__all__ = ["FrameResult", "Stream", "stream"]

log = logging.getLogger(__name__)

POLL_S = 0.1       # how often a waiting caller looks whether the run has ended
HALT_AFTER_S = 15.0  # a stopped run still draining this long later is stopped hard


class Stream:
    """Each frame's result of a running :class:`~streampose.Pipeline`; see the module
    docstring. ``dropped[stream]``: results dropped for this caller so far (live
    cameras); ``summary``: the run's summary once it has ended (None before)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.dropped = [0] * pipeline.plan.streams
        self._closed = False
        self._run = _Run(pipeline)  # the thread holds it, not this stream (which GC closes)
        self._thread = threading.Thread(target=self._run, name="streampose-pipeline",
                                        daemon=True)
        self._thread.start()
        self._at_exit = _closer(self)
        atexit.register(self._at_exit)

    @property
    def summary(self) -> Summary | None:
        """The run's summary once it has ended (None before, or when it failed)."""
        return self._run.summary

    # -- iterating ------------------------------------------------------------------------

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> FrameResult:
        if self._closed:
            raise StopIteration
        try:
            result = self._next_result()
        except BaseException:  # Ctrl-C while waiting: the run stops first
            self._stop()
            raise
        if result is None:
            self.close()
            raise StopIteration
        return result

    def _next_result(self) -> FrameResult | None:
        """The next result; None once the run has ended and every result is taken."""
        while True:
            ended = not self._thread.is_alive()  # before the get: no result is missed
            item = self._get(timeout=0.0 if ended else POLL_S)
            if item is not None:
                if isinstance(item, FrameResult):
                    return item
                continue
            if ended:
                return None

    def _get(self, timeout: float) -> FrameResult | StreamEnd | None:
        """One item of the caller queue, its drops counted (None: nothing came)."""
        channel = self._pipeline.caller
        if channel is None:  # the stages are not built yet
            time.sleep(timeout)
            return None
        try:
            item = channel.get(timeout=timeout) if timeout > 0 else channel.get_nowait()
        except queue.Empty:
            return None
        self._count(item)
        return item  # type: ignore[no-any-return]

    def _count(self, item: FrameResult | StreamEnd) -> None:
        if isinstance(item, FrameResult):
            self.dropped[item.stream] += item.dropped
        else:
            for stream, n in item.dropped.items():
                self.dropped[stream] += n

    # -- stopping ---------------------------------------------------------------------------

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
        else:
            self._stop()  # the caller's exception is the one to see

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._stop()

    def close(self) -> Summary | None:
        """Stop the run (when it still runs), wait for its end and give its summary;
        raises the run's failure (a StreamposeError) if it failed. Idempotent."""
        self._stop()
        failure, self._run.failure = self._run.failure, None
        if failure is not None:
            raise failure
        return self.summary

    def _stop(self) -> None:
        """Stop the run, discarding the results still coming, until every stage ended."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        try:
            self._drain()
        finally:
            if self._thread.is_alive():  # an interrupt while draining: stop hard
                self._pipeline.halt()
                self._thread.join()
        self._summarise()

    def _drain(self) -> None:
        if self._thread.is_alive():
            self._pipeline.stop()
        halt_at = time.monotonic() + HALT_AFTER_S
        while self._thread.is_alive():
            if time.monotonic() > halt_at:
                log.warning("the stopped run still drains after %.0f s: stopping it now",
                            HALT_AFTER_S)
                self._pipeline.halt()
                halt_at = float("inf")
            self._get(timeout=POLL_S)
        while self._get(timeout=0.0) is not None:  # what came last: counted, discarded
            pass

    def _summarise(self) -> None:
        """The summary's streams with the results dropped for this caller."""
        if self.summary is None:
            return
        for entry in self.summary.streams:
            entry["stream_dropped"] = self.dropped[entry["stream"]]


class _Run:
    """The pipeline's run, called in the background thread: its summary or failure."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.summary: Summary | None = None
        self.failure: BaseException | None = None

    def __call__(self) -> None:
        try:
            self.summary = self.pipeline.run()
        except BaseException as exc:  # raised in the caller's thread
            self.failure = exc


def _closer(owner: Stream) -> Any:
    """A function that stops ``owner``'s run at exit, without keeping ``owner`` alive."""
    ref = weakref.ref(owner)

    def close() -> None:
        found = ref()
        if found is not None:
            found._stop()

    return close


def stream(sources: str | Path | Sequence[str | Path], *, model: str | Path,
           images: bool = False, buffer: int = 8, **options: Any) -> Stream:
    """Run ``sources`` (a file, folder or URL, or a list of them) with ``model`` and give
    each frame's result as it comes (:class:`Stream`). ``images``: each result carries
    the frame's picture; ``buffer``: results in flight at most; ``options``: the command
    line's options as keywords (``max_frames=50``, ``json="out.jsonl"``,
    ``tracking=False``, ``backend="fake"``: :mod:`streampose.config.keywords`)."""
    from streampose.config.keywords import config_of
    from streampose.pipeline import Pipeline

    config = config_of(sources, model=model, **options)
    return Pipeline(config).stream(images=images, buffer=buffer)
