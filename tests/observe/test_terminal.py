"""The status table fits the terminal: whole words and designed short forms only, at 80 and
120 columns, through the display a terminal run uses."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from streampose.observe.camera_state import STATES
from streampose.observe.terminal import (
    _TITLES,
    SHORT_STATES,
    SHORT_TITLES,
    StatusDisplay,
    status_table,
)

CAMERAS = ("front-door", "yard", "127_0_0_1-cam0", "loading-bay")
UNUSED = ("mqtt_dropped", "events", "carried")  # a file run without MQTT, rules, interval


def _streams() -> list[dict[str, Any]]:
    counts = {"frames_in": 1200, "frames_out": 1180, "dropped": 12, "reconnects": 3,
              "mqtt_dropped": 0, "decode_errors": 1, "events": 42, "carried": 0}
    return [{"stream": i, "camera": name, "state": state, "fps_in": 25.0, "fps_out": 24.6,
             "latency_p50": 0.41, "latency_p95": 1.25, **counts}
            for i, (name, state) in enumerate(zip(CAMERAS, STATES, strict=False))]


def _stages() -> list[dict[str, Any]]:
    names = ["decode0", "decode1", "infer0", "infer1", "postprocess0", "preprocess", "render"]
    return [{"stage": name, "busy_ratio": 0.5} for name in names]


def _vocabulary() -> set[str]:
    """Every word the table may show: its titles and states, full or short, the camera
    names, the stage line's words and the numbers."""
    words = {"busy", "-", "s", *CAMERAS, *STATES, *SHORT_STATES.values()}
    for title in (*_TITLES.values(), *SHORT_TITLES.values(), *UNUSED, "dropped",
                  "reconnects", "decode_errors"):
        words.update(title.split())
    words.update(s["stage"] for s in _stages())
    return words


def _shown(text: str) -> list[str]:
    return [w for w in text.split() if not re.fullmatch(r"\d+(\.\d+)?%?", w)]


def _drawn(width: int, hidden: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> str:
    """What a terminal ``width`` columns wide shows (the display finds the width itself)."""
    monkeypatch.setenv("COLUMNS", str(width))
    out = io.StringIO()
    display = StatusDisplay(stream=out, force_tty=True)
    display.update(status_table(streams=_streams(), stages=_stages(), hidden=hidden))
    display.close()
    last = out.getvalue().split("\x1b[2K")[-1]  # the last redraw, after the line erases
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", last)  # without colours


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("hidden", [(), UNUSED], ids=["every-column", "in-use-only"])
def test_the_table_fits_with_whole_words(width: int, hidden: tuple[str, ...],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    screen = _drawn(width, hidden, monkeypatch)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert max(len(line) for line in lines) <= width
    assert "…" not in screen and "..." not in screen
    assert set(_shown(screen)) <= _vocabulary(), set(_shown(screen)) - _vocabulary()
    rows = [line.split() for line in lines if line.split()[0] in CAMERAS]
    assert [row[0] for row in rows] == list(CAMERAS)  # one line per stream, names whole
    assert {row[1] for row in rows} <= {*STATES, *SHORT_STATES.values()}


def test_at_80_columns_titles_and_states_take_their_short_forms(
        monkeypatch: pytest.MonkeyPatch) -> None:
    header = _drawn(80, UNUSED, monkeypatch).splitlines()[0].split()
    assert header == ["camera", "state", "in/s", "out/s", "drop", "reconn", "errors", "p50",
                      "p95"]


def test_at_120_columns_titles_and_states_are_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = _drawn(120, UNUSED, monkeypatch)
    assert screen.splitlines()[0].split() == ["camera", "state", "in", "fps", "out", "fps",
                                              "dropped", "reconnects", "decode_errors", "lat",
                                              "p50", "lat", "p95"]
    assert "reconnecting" in screen and "127_0_0_1-cam0" in screen


def test_columns_not_in_use_are_left_out() -> None:
    console_text = io.StringIO()
    from rich.console import Console

    Console(file=console_text, width=200, color_system=None).print(
        status_table(streams=_streams(), hidden=UNUSED))
    header = console_text.getvalue().splitlines()[0].split()
    assert not {"mqtt_dropped", "events", "carried"} & set(header)
    assert {"dropped", "reconnects", "decode_errors"} <= set(header)


def test_a_narrow_terminal_drops_columns_rather_than_cut_words(
        monkeypatch: pytest.MonkeyPatch) -> None:
    screen = _drawn(56, (), monkeypatch)
    assert "…" not in screen and set(_shown(screen)) <= _vocabulary()
    header = screen.splitlines()[0].split()
    assert header[:4] == ["camera", "state", "in/s", "out/s"] and "p95" in header
    assert "p50" not in header and "carried" not in header
