"""JSON lines outputs: ``--events OUT.jsonl``, one flushed line per event, readable while
the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

from streampose.events import Event
from streampose.outputs.base import Sink
from streampose.outputs.jsonl import EventsSink
from tests.events.people import meta, poses


def _event(track_id: int) -> Event:
    return Event(camera="c", type="line", rule="door", track_id=track_id, time=1.0,
                 frame=3, pts=0.3, position=(1.0, 2.0), details={"direction": "in"})


def test_each_event_is_a_line_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = EventsSink(path=path)
    sink.open()
    sink.write(meta(3), poses({}), None)  # frames alone write nothing
    sink.write_events(meta(3), [_event(1), _event(2)])
    on_disk = [json.loads(line) for line in path.read_text().splitlines()]  # not closed
    assert [r["track_id"] for r in on_disk] == [1, 2] and sink.lines == 2
    sink.close()
    sink.close()  # idempotent
    assert len(path.read_text().splitlines()) == 2


def test_sinks_do_not_want_events_by_default_and_ignore_them() -> None:
    class Plain(Sink):
        def write(self, meta, poses, image) -> None:  # type: ignore[no-untyped-def]
            pass

    assert Plain.wants_events is False and EventsSink.wants_events is True
    Plain().write_events(meta(0), [_event(1)])  # the default is a no-op


def test_a_run_writes_its_events_file_and_counts_them(tmp_path: Path, clip: Path) -> None:
    """The fake backend puts a person on the clip's bright square, which moves right
    from x 12 to 56: it crosses a vertical line at x 34 once, left to right ("in")."""
    from streampose import Pipeline, PipelineConfig
    from streampose.config import ModelConfig, OutputsConfig
    from streampose.config.sections import EventsConfig
    from tests.support.models import MODEL_NAME

    events, summary = tmp_path / "events.jsonl", tmp_path / "summary.json"
    config = PipelineConfig(
        sources=(str(clip),), model=ModelConfig(path=MODEL_NAME, backend="fake"),
        outputs=OutputsConfig(summary=summary),
        events=EventsConfig(jsonl=events, line=({"name": "mid", "points": [34, 63, 34, 0]},)))
    Pipeline(config).run()
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(r["camera"], r["type"], r["rule"], r["direction"]) for r in records] == [
        ("clip", "line", "mid", "in")]
    assert 12 < records[0]["position"][0] < 60 and records[0]["frame"] > 0
    assert json.loads(summary.read_text())["streams"][0]["events"] == 1
