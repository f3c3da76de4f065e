"""SummaryService: the summary made once, written when the services stop (never
before), the run's failure in it; a failed write is the error unless the run failed."""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streampose.errors import OutputError, SourceError
from streampose.observe.counters import StreamCounters
from streampose.observe.stats import LatencyWindow
from streampose.runtime.supervisor import RunResult
from streampose.services.cameras import CameraService
from streampose.services.summary import SummaryService


def service(path: Path | None) -> SummaryService:
    ctx = multiprocessing.get_context("spawn")
    view: Any = SimpleNamespace(cameras=["door"])
    return SummaryService(path=path, uris=["rtsp://cam/1"],
                          counters=StreamCounters(streams=1, ctx=ctx),
                          latency=LatencyWindow(streams=1, ctx=ctx), view=view,
                          cameras=CameraService(assign=lambda stack: None))


def test_the_summary_is_written_when_the_services_stop(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    summaries = service(path)
    summaries.start()
    summary = summaries.finish(RunResult(wall_s=1.0), SourceError("camera gone"))
    assert not path.exists()
    summaries.stop()
    saved = json.loads(path.read_text())
    assert saved == summary.to_json()
    assert saved["error"]["kind"] == "SourceError" and saved["streams"][0]["camera"] == "door"


def test_nothing_is_written_for_a_run_that_never_finished(tmp_path: Path) -> None:
    summaries = service(tmp_path / "s.json")
    summaries.stop()
    assert not (tmp_path / "s.json").exists()


def test_a_failed_write_is_the_error_unless_the_run_failed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "missing" / "s.json"
    summaries = service(path)
    summaries.finish(RunResult(), None)
    with pytest.raises(OutputError):
        summaries.stop()
    summaries.finish(RunResult(), SourceError("camera gone"))
    with caplog.at_level(logging.ERROR):
        summaries.stop()
    assert "s.json" in caplog.text
