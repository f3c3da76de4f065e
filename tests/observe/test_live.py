"""The parent's live view: per-camera state, names, redaction, and the histograms fed."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streampose.observe.counters import StreamCounters
from streampose.observe.live import STALE_S, LiveView
from streampose.observe.stats import LatencyWindow

CTX = mp.get_context("spawn")


def view(*, live: bool = False, total: int | None = None) -> LiveView:
    counters = StreamCounters(streams=1, ctx=CTX)
    latency = LatencyWindow(streams=1, size=4, ctx=CTX)
    return LiveView(sources=["rtsp://ops:hunter2@cam/door"], counters=counters,
                    latency=latency, started=0.0, cameras=["door"], live=[live],
                    totals=[total])


def states(v: LiveView, steps: list[tuple[float, dict[str, int]]]) -> list[str]:
    out = []
    for now, add in steps:
        for name, n in add.items():
            v.counters.add(0, name, n)
        out.append(v.update(now, None).streams[0]["state"])
    return out


def test_live_camera_goes_reconnecting_and_back() -> None:
    v = view(live=True)
    got = states(v, [(0.5, {}), (STALE_S + 1, {}), (STALE_S + 2, {"frames_in": 5}),
                     (STALE_S + 3, {"frames_in": 5}), (2 * STALE_S + 4, {}),
                     (2 * STALE_S + 5, {"frames_in": 1, "reconnects": 1})])
    # a camera slow to give its first frame is starting, not offline nor reconnecting
    assert got == ["starting", "starting", "online", "online", "reconnecting", "online"]


def test_the_staleness_rule_is_the_views_own() -> None:
    counters = StreamCounters(streams=1, ctx=CTX)
    v = LiveView(sources=["rtsp://cam/door"], counters=counters,
                 latency=LatencyWindow(streams=1, size=4, ctx=CTX), started=0.0,
                 live=[True], stale_s=1.0)
    assert states(v, [(0.5, {"frames_in": 1}), (1.4, {}), (1.5, {})]) == \
        ["online", "online", "reconnecting"]


def test_a_live_camera_whose_decoder_ended_is_offline() -> None:
    ended = [False]
    v = LiveView(sources=["rtsp://cam/door"], counters=StreamCounters(streams=1, ctx=CTX),
                 latency=LatencyWindow(streams=1, size=4, ctx=CTX), started=0.0,
                 live=[True], ended=lambda: ended)
    assert states(v, [(0.5, {"frames_in": 3})]) == ["online"]
    ended[0] = True
    assert states(v, [(0.6, {})]) == ["offline"]


def test_file_goes_finished() -> None:
    v = view(total=10)
    got = states(v, [(0.5, {}), (1.0, {"frames_in": 10, "frames_out": 4}),
                     (1.5, {"frames_out": 6})])
    assert got == ["starting", "online", "finished"]


def test_stream_names_and_redaction() -> None:
    s = view().update(1.0, None).streams[0]
    assert s["camera"] == "door" and "hunter2" not in s["source"]


def test_latency_samples_reach_the_histogram_once_each() -> None:
    v = view()
    for x in (0.01, 0.2, 0.3):
        v.latency.record(0, x)
    v.update(1.0, None)
    v.latency.record(0, 4.0)
    v.update(2.0, None)
    v.update(3.0, None)
    families = {f.name: f for f in text_string_to_metric_families(
        v.metrics.exposition().decode())}
    samples = {(s.name, s.labels.get("le")): s.value
               for s in families["streampose_frame_latency_seconds"].samples}
    assert samples[("streampose_frame_latency_seconds_count", None)] == 4
    assert samples[("streampose_frame_latency_seconds_bucket", "0.25")] == 2


@pytest.mark.parametrize(("records", "seen", "expected"), [
    ([1.0, 2.0], 0, [1.0, 2.0]),
    ([1.0, 2.0, 3.0], 1, [2.0, 3.0]),
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0, [3.0, 4.0, 5.0, 6.0]),  # older ones are gone
    ([1.0], 1, []),
])
def test_latency_since(records: list[float], seen: int, expected: list[float]) -> None:
    window = LatencyWindow(streams=2, size=4, ctx=CTX)
    for x in records:
        window.record(1, x)
    values, count = window.since(1, seen)
    assert values.tolist() == expected and count == len(records)


def test_a_slot_given_another_camera_starts_again() -> None:
    v = view(live=True)
    assert states(v, [(1.0, {"frames_in": 5}), (1.5, {"frames_in": 5})]) == \
        ["online", "online"]
    v.cameras[0] = "yard"  # the slot's counters go on; its new camera has given nothing
    assert states(v, [(2.0, {}), (STALE_S + 3, {})]) == ["starting", "starting"]
    assert states(v, [(STALE_S + 4, {"frames_in": 1})]) == ["online"]
