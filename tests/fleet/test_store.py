"""The fleet's state file: the desired cameras and settings survive a controller restart."""

from __future__ import annotations

from pathlib import Path

from streampose.config.cameras_file import Camera
from streampose.fleet.store import StateFile, plain


def test_state_file_round_trip(tmp_path: Path) -> None:
    store = StateFile(fleet_id="f1", work_dir=str(tmp_path / "w"))
    assert store.load() is None  # a first start
    cams = [Camera(name="door", url="rtsp://10.0.0.1/door"), Camera(name="yard", url="y.mp4")]
    settings = plain({"model": {"path": Path("/m.onnx")}, "mqtt": {"url": "mqtt://h/p"}})
    store.save(cams, settings)
    loaded = store.load()
    assert loaded is not None
    cameras, back = loaded
    assert list(cameras.values()) == cams and back == settings
    assert [p.name for p in store.path.parent.iterdir()] == ["fleet-f1.json"]
    store.remove()
    store.remove()  # idempotent
    assert store.load() is None


def test_plain_settings_are_what_a_round_trip_gives() -> None:
    assert plain({"a": Path("/x"), "b": (1, 2)}) == {"a": "/x", "b": [1, 2]}
