"""The summary service: the run's summary, made once the stages ended and written
(``--summary``) when the run's services stop."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from streampose.errors import OutputError, StreamposeError
from streampose.observe.counters import StreamCounters
from streampose.observe.live import LiveView
from streampose.observe.memory import MemoryPeaks
from streampose.observe.stats import LatencyWindow
from streampose.observe.summary import Summary, summarise
from streampose.outputs.writable import write_file
from streampose.runtime.supervisor import RunResult
from streampose.services.cameras import CameraService
from streampose.services.service import Service

__all__ = ["SummaryService"]

log = logging.getLogger(__name__)


class SummaryService(Service):
    """:meth:`finish` makes the summary (``uris``: each stream's source as shown; the
    cameras each seat carried, from ``cameras``; the process tree's peak memory, from
    ``memory``); ``stop`` writes it to ``path`` whole or not at all."""

    def __init__(self, *, path: Path | None, uris: Sequence[str], counters: StreamCounters,
                 latency: LatencyWindow, view: LiveView, cameras: CameraService,
                 memory: MemoryPeaks | None = None) -> None:
        self._path, self._uris = path, list(uris)
        self._counters, self._latency, self._view = counters, latency, view
        self._cameras, self._memory = cameras, memory
        self._made: tuple[Summary, StreamposeError | None] | None = None

    def finish(self, result: RunResult, failure: StreamposeError | None) -> Summary:
        """The summary of the run that ended with ``result`` (``failure``: how it failed)."""
        summary = summarise(self._uris, result, self._counters, self._latency,
                            cameras=self._view.cameras)
        assigner = self._cameras.assigner
        if assigner is not None:  # every camera each seat carried, in order
            for entry, names, shares in zip(summary.streams, assigner.history,
                                            assigner.camera_counts(), strict=True):
                entry["cameras"] = names
                entry["camera"] = names[-1] if names else ""
                entry["by_camera"] = shares
        if self._memory is not None and self._memory.samples:
            summary.extra["memory"] = self._memory.to_json()
        if failure is not None:
            summary.extra["error"] = {"kind": type(failure).__name__,
                                      "message": str(failure),
                                      "exit_code": failure.exit_code}
        self._made = (summary, failure)
        return summary

    def stop(self) -> None:
        """``--summary``, once made; OutputError naming it (logged instead when the run
        already failed: that error is the one to report)."""
        if self._path is None or self._made is None:
            return
        summary, failure = self._made
        try:
            write_file(self._path, json.dumps(summary.to_json(), indent=2) + "\n")
        except OutputError as exc:
            if failure is None:
                raise
            log.error("%s", exc)
