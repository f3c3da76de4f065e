"""The cameras file: cameras and pipeline tables read, written back, mistakes named."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.config.build import build_config
from streampose.config.cameras_file import (
    Camera,
    CamerasFile,
    dump_cameras,
    load_cameras,
    redact_text,
)
from streampose.errors import ConfigError

EXAMPLE = """
[model]
path = "../shared/models/openpose-mnv2s-coco18.onnx"   # relative to the file
backend_options = { spin = true }
[batching]
batch = 4
max_wait_ms = 20
[outputs]
video = "recordings/{camera}.mp4"
json = "out.jsonl"
[mqtt]
url = "mqtt://127.0.0.1:1883/streampose"
[live]
rtsp_transport = "udp"
[events]
min_keypoints = 4
[[events.line]]
name = "gate"
points = [[0, 10], [100, 10]]
[events.fall]

[[camera]]
name = "door"
url = "rtsp://user:pw@10.0.0.5/stream1"
transport = "tcp"
[[camera]]
name = "yard_2"
url = "rtsp://10.0.0.6/live"
record = false
draw = false
blur_faces = true
[[camera]]
name = "file-cam"
url = "media/clip.mp4"
[[camera]]
name = "webcam"
url = "0"
"""


def write(folder: Path, text: str, name: str = "cameras.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> CamerasFile:
    return load_cameras(write(tmp_path / "conf", text))


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return str(info.value)


def test_the_example_loads(tmp_path: Path) -> None:
    cf = load_text(tmp_path, EXAMPLE)
    folder = tmp_path / "conf"
    assert cf.names == ("door", "yard_2", "file-cam", "webcam")
    door, yard, clip, cam = cf.cameras
    assert door == Camera("door", "rtsp://user:pw@10.0.0.5/stream1", transport="tcp")
    assert (yard.record, yard.draw, yard.blur_faces, yard.transport) == (False, False, True, None)
    assert clip.url == str(folder / "media" / "clip.mp4")  # relative to the file
    assert cam.url == "0" and cam.is_live and door.is_live and not clip.is_live
    assert cf.settings["model"]["path"] == (tmp_path / "shared/models/openpose-mnv2s-coco18.onnx")
    assert cf.settings["outputs"]["video"] == str(folder / "recordings" / "{camera}.mp4")
    assert cf.settings["outputs"]["json"] == folder / "out.jsonl"
    assert cf.settings["batching"] == {"batch": 4, "max_wait_ms": 20.0}
    assert cf.settings["events"]["line"] == ({"name": "gate", "points": [[0, 10], [100, 10]]},)
    assert cf.settings["events"]["fall"] == {}
    assert cf.camera("yard_2") is yard
    with pytest.raises(KeyError):
        cf.camera("nope")


def test_the_settings_build_a_pipeline_config(tmp_path: Path) -> None:
    cf = load_text(tmp_path, EXAMPLE)
    config = build_config(cf.settings, {"sources": [c.url for c in cf.cameras]})
    assert config.batching.batch == 4 and config.live.rtsp_transport == "udp"
    assert config.mqtt.url == "mqtt://127.0.0.1:1883/streampose"
    assert config.events.fall == {}


def test_round_trip(tmp_path: Path) -> None:
    cf = load_text(tmp_path, EXAMPLE)
    text = dump_cameras(cf)
    again = load_cameras(write(tmp_path / "elsewhere", text))  # absolute paths: any folder
    assert again == cf
    assert dump_cameras(again) == text


def test_round_trip_of_one_built_in_python(tmp_path: Path) -> None:
    cf = CamerasFile(cameras=(Camera("a", "rtsp://h/x", transport="udp", record=False),
                              Camera("b-2", "http://h:8080/v.mjpg", blur_faces=False)),
                     settings={"outputs": {"video": "/rec/{camera}.mp4",
                                           "json": Path("/out/x.jsonl")},
                               "draw": {"min_confidence": 0.25, "ids": False},
                               "model": {"path": Path("/m/odd \"name\"\\x.onnx")}})
    assert load_cameras(write(tmp_path, dump_cameras(cf))) == cf


def test_a_share_of_the_frame_height_is_written_back(tmp_path: Path) -> None:
    cf = load_text(tmp_path, '[model]\nmin_person_height = "11%"\n'
                   '[[camera]]\nname = "a"\nurl = "rtsp://h/x"\n')
    assert cf.settings["model"]["min_person_height"] == "11%"
    assert load_cameras(write(tmp_path / "elsewhere", dump_cameras(cf))) == cf


def test_an_empty_file_has_no_cameras(tmp_path: Path) -> None:
    cf = load_text(tmp_path, "")
    assert cf == CamerasFile() and dump_cameras(cf) == ""
    assert load_cameras(write(tmp_path, dump_cameras(cf))) == cf


# --- mistakes, named ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "named"), [
    ('[[camera]]\nname = "a"\nurl = "rtsp://h/x"\nrecod = false\n',
     ["[[camera]] #1 ('a')", "recod: unknown key", "did you mean 'record'?"]),
    ('[outputs]\nvidoe = "x.mp4"\n', ["[outputs].vidoe: unknown key", "'video'"]),
    ('[output]\nvideo = "x.mp4"\n', ["output: unknown key", "did you mean 'outputs'?"]),
    ('sources = ["a.mp4"]\n', ["sources: unknown key", "[[camera]] tables"]),
    ('[[camera]]\nurl = "rtsp://h/x"\n', ["[[camera]] #1", "name is missing"]),
    ('[[camera]]\nname = "a"\n', ["[[camera]] #1 ('a')", "url is missing"]),
    ('[batching]\nbatch = 0\n', ["--batch / [batching].batch", "0"]),
    ('[[camera]]\nname = "a"\nurl = "rtsp://h/x"\nrecord = "no"\n', ["record = 'no'"]),
    ('[[camera]]\nname = "a"\nurl = "rtsp://h/x"\ntransport = "quic"\n',
     ["transport = 'quic'", "'tcp', 'udp'"]),
    ('[[camera]]\nname = "a"\nurl = "http://h/x"\ntransport = "tcp"\n', ["only for rtsp://"]),
    ('camera = 3\n', ["expected [[camera]] tables"]),
    ('[[camera]]\nname = "a"\nurl = ""\n', ["url = ''", "non-empty"]),
    ('[[camera]]\nname = "a"\nurl = 7\n', ["url = 7"]),
    ("[model\n", ["not a valid TOML file"]),
])
def test_mistakes_are_named(tmp_path: Path, text: str, named: list[str]) -> None:
    message = error_of(tmp_path, text)
    assert str(tmp_path / "conf" / "cameras.toml") in message
    for part in named:
        assert part in message, message
    assert "\n" not in message


@pytest.mark.parametrize("name", ["", "a b", "door/1", "caméra", ".a", "..", "+"])
def test_invalid_names(tmp_path: Path, name: str) -> None:
    message = error_of(tmp_path, f'[[camera]]\nname = "{name}"\nurl = "rtsp://h/x"\n')
    assert f"name = {name!r}" in message and "letters, digits" in message


def test_duplicate_names(tmp_path: Path) -> None:
    text = "".join(f'[[camera]]\nname = "{n}"\nurl = "rtsp://h/{i}"\n'
                   for i, n in enumerate(["a", "b", "a", "b", "c"]))
    message = error_of(tmp_path, text)
    assert "two cameras named 'a', 'b'" in message and "unique" in message
    with pytest.raises(ConfigError, match="two cameras named 'x'"):
        CamerasFile(cameras=(Camera("x", "1"), Camera("x", "2")))


@pytest.mark.parametrize(("url", "named"), [
    ("rtsp://user:secret@[::1/x", "malformed URL"),
    ("rtsp://user:secret@/x", "no host"),
    ("rtsp://user:secret@host:99999/x", "malformed URL"),
    ("ftp://user:secret@host/x", "unsupported scheme 'ftp'"),
])
def test_bad_urls(tmp_path: Path, url: str, named: str) -> None:
    message = error_of(tmp_path, f'[[camera]]\nname = "a"\nurl = "{url}"\n')
    assert named in message and "secret" not in message, message


def test_credentials_are_redacted_in_every_error(tmp_path: Path) -> None:
    secret = "s3cr3t"
    cam = f'[[camera]]\nname = "door"\nurl = "rtsp://admin:{secret}@10.0.0.5/x"\n'
    texts = [
        cam + 'transport = "quic"\n',
        cam + 'record = "rtsp://admin:s3cr3t@10.0.0.5/x"\n',
        f'[[camera]]\nname = "door"\nurl = "http://admin:{secret}@cam/x"\ntransport = "tcp"\n',
        f'[mqtt]\nurl = "mqtt://admin:{secret}@broker:notaport"\n',
        f'[mqtt]\nurl = "ftp://admin:{secret}@broker/x"\n',
        f'[outputs]\nmetrics_port = "rtsp://admin:{secret}@x/y"\n',
        cam + cam,
        cam + 'bogus = 1\n',
        f'[[camera]]\nname = "door"\nurl = "rtsp://admin:{secret}@h:bad/x"\n',
    ]
    for text in texts:
        message = error_of(tmp_path, text)
        assert secret not in message, message
    assert redact_text("x rtsp://u:pw@h/a 'mqtt://u:pw@b' y") == \
        "x rtsp://u:***@h/a 'mqtt://u:***@b' y"
    assert redact_text("expected mqtt://[user:pass@]host") == "expected mqtt://[user:pass@]host"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cameras file not found"):
        load_cameras(tmp_path / "none.toml")


def test_camera_checks_in_python() -> None:
    from streampose.config.camera import check_camera_url

    with pytest.raises(ConfigError, match="unsupported scheme"):
        check_camera_url(Camera("a", "gopher://h/x").url)  # a fixed run's seat may hold it
    with pytest.raises(ConfigError, match="expected true or false"):
        Camera("a", "rtsp://h/x", blur_faces="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a pipeline table"):
        CamerasFile(settings={"nope": {}})


def test_a_name_as_made_from_a_url_is_a_camera_name() -> None:
    assert Camera("127.0.0.1-8554-cam0", "rtsp://127.0.0.1:8554/cam0").name == \
        "127.0.0.1-8554-cam0"
