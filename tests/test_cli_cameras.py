"""``streampose run --cameras FILE``: the file's cameras are the run's sources, by name,
each with its own options; the command line wins over the file's tables."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from tests.support.cli import run_cli
from tests.support.media import make_video
from tests.support.shared import shared_file


def write_cameras(folder: Path, cameras: str, tables: str = "") -> Path:
    """A cameras file in ``folder`` with the fake backend and outputs beside it."""
    path = folder / "cameras.toml"
    path.write_text('[model]\npath = "openpose-mnv2s-coco18.onnx"\nbackend = "fake"\n'
                    '[outputs]\nvideo = "rec/{camera}.mp4"\njson = "o.jsonl"\n'
                    f'summary = "s.json"\n{tables}\n{cameras}', encoding="utf-8")
    (folder / "rec").mkdir(exist_ok=True)
    return path


def camera(name: str, url: str | Path, **options: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in options.items())
    return f'[[camera]]\nname = "{name}"\nurl = "{url}"\n{extra}'


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24").astype(np.int16) for f in container.decode(video=0)]


def test_cameras_are_the_sources_with_their_names_and_options(tmp_path: Path) -> None:
    street = shared_file("media/street_5f.mp4")  # people: the fake backend finds some
    make_video(tmp_path / "clip.mp4", frames=6)
    file = write_cameras(tmp_path, camera("door", street)
                         + camera("yard-2", "clip.mp4", record="false")  # relative to the file
                         + camera("gate", street, draw="false"))
    # the fake backend's people have 3 keypoints: drawn only below the default minimum
    result = run_cli("run", "--cameras", str(file), "--no-progress", "--draw-min-keypoints",
                     "1", cwd="/")
    assert result.returncode == 0, result.stderr

    summary = json.loads((tmp_path / "s.json").read_text())
    assert [(s["camera"], s["frames_out"]) for s in summary["streams"]] == \
        [("door", 5), ("yard-2", 6), ("gate", 5)]
    lines = records(tmp_path / "o.jsonl")
    assert {(x["stream"], x["camera"]) for x in lines} == {(0, "door"), (1, "yard-2"), (2, "gate")}
    # {camera} names the recordings; record = false writes none
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["door.mp4", "gate.mp4"]
    # draw = false: the recording is the camera's picture (encoding noise aside); the other
    # camera of the same video has poses drawn on it
    source = frames_of(street)
    drawn, plain = frames_of(tmp_path / "rec/door.mp4"), frames_of(tmp_path / "rec/gate.mp4")
    assert len(drawn) == len(plain) == len(source) == 5
    assert any(p["keypoints"] for x in lines if x["camera"] == "gate" for p in x["persons"])
    for src, d, p in zip(source, drawn, plain, strict=True):
        assert np.abs(p - src).mean() < 3.0
        assert (np.abs(d - src) > 60).sum() > 4 * (np.abs(p - src) > 60).sum() + 100


def test_blur_faces_per_camera_with_the_real_model(tmp_path: Path) -> None:
    street = shared_file("media/street_5f.mp4")
    model = shared_file("models/openpose-mnv2s-coco18.onnx")  # real heads to blur
    file = write_cameras(tmp_path, camera("plain", street, draw="false")
                         + camera("blurred", street, draw="false", blur_faces="true"),
                         tables="[performance]\nmax_frames = 2\n")
    result = run_cli("run", "--cameras", str(file), "--model", str(model), "--backend",
                     "onnxruntime", "--no-progress")
    assert result.returncode == 0, result.stderr
    lines = records(tmp_path / "o.jsonl")
    assert {x["camera"] for x in lines} == {"plain", "blurred"}
    assert all(x["persons"] for x in lines)  # the model sees the people of the street
    plain, blurred = frames_of(tmp_path / "rec/plain.mp4"), frames_of(tmp_path / "rec/blurred.mp4")
    assert len(plain) == len(blurred) == 2
    for p, b in zip(plain, blurred, strict=True):
        assert (np.abs(p - b) > 30).sum() > 300  # some heads blurred, on one camera only


def test_the_command_line_wins_over_the_file(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    file = write_cameras(tmp_path, camera("a", clip) + camera("b", clip),
                         tables="[performance]\nmax_frames = 3\n[tracking]\nenabled = true\n")
    out = tmp_path / "cli.jsonl"
    result = run_cli("run", "--cameras", str(file), "--json", str(out), "--max-frames", "4",
                     "--no-tracking", "-o", str(tmp_path / "rec" / "x_{camera}_{stream}.mp4"))
    assert result.returncode == 0, result.stderr
    lines = records(out)
    assert not (tmp_path / "o.jsonl").exists()
    assert len(lines) == 8 and all(p["id"] == -1 for x in lines for p in x["persons"])
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["x_a_0.mp4", "x_b_1.mp4"]


def test_a_config_file_under_the_cameras_file(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    config = tmp_path / "p.toml"
    config.write_text('sources = ["ignored.mp4"]\n[performance]\nmax_frames = 2\n'
                      '[outputs]\njson = "from_config.jsonl"\n')
    file = write_cameras(tmp_path, camera("a", clip))
    result = run_cli("run", "--config", str(config), "--cameras", str(file))
    assert result.returncode == 0, result.stderr
    assert len(records(tmp_path / "o.jsonl")) == 2  # the cameras file's json; config's limit


def test_mistakes_are_one_line_with_credentials_hidden(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    secret = camera("door", "rtsp://admin:s3cr3t@127.0.0.1:1/x", transport='"quic"')
    files = iter(tmp_path / f"case{i}" for i in range(10))

    def cameras_file(text: str) -> str:
        folder = next(files)
        folder.mkdir()
        return str(write_cameras(folder, text))

    cases = [
        (["--cameras", cameras_file(secret)], "transport = 'quic'"),
        (["--cameras", cameras_file(camera("a", clip)), "rtsp://admin:s3cr3t@h/y"],
         "the cameras file names the sources"),
        (["--cameras", cameras_file("")], "no cameras"),
        (["--cameras", str(tmp_path / "none.toml")], "cameras file not found"),
        (["--cameras", cameras_file(camera("a", clip) + camera("a", clip))],
         "two cameras named 'a'"),
        (["--cameras", cameras_file(camera("a", tmp_path))], "is images"),
        (["--max-streams", "2", str(clip)], "--max-streams: seats are for the cameras"),
        (["--cameras", cameras_file(camera("a", clip)), "--max-streams", "2"],
         "is a file; cameras added and removed"),
        (["--cameras", cameras_file(camera("a", "rtsp://h/a") + camera("b", "rtsp://h/b")),
          "--max-streams", "1"], "the cameras file has 2 cameras"),
        (["--cameras", cameras_file(camera("a", "rtsp://h/a")), "--max-streams", "0"],
         "--max-streams 0: give a whole number"),
    ]
    for args, expected in cases:
        result = run_cli("run", *args, "--no-progress")
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, result.stderr
        assert "s3cr3t" not in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
