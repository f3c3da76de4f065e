"""The staged pipeline end to end: outputs, process layout, failures, interrupts, cleanup."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.errors import StageError
from streampose.sources import probe_video
from tests.support.cli import run_cli
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shared import shared_file
from tests.support.shm import shm_segments
from tests.support.waiting import wait_until


def test_fake_backend_end_to_end_keeps_frames_and_timing(tmp_path: Path, clip: Path) -> None:
    config = PipelineConfig(
        sources=(str(clip),), model=ModelConfig(path=MODEL_NAME, backend="fake"),
        outputs=OutputsConfig(video=str(tmp_path / "out.mp4"), json=tmp_path / "o.jsonl",
                              summary=tmp_path / "s.json"),
        batching=BatchingConfig(batch=4),
        performance=PerformanceConfig(postprocess_workers=2, infer_workers="1"))
    summary = Pipeline(config).run()
    frames, fps, width, height = probe_video(tmp_path / "out.mp4")
    assert (frames, fps, width, height) == (12, Fraction(10), 96, 64)
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(12))  # in order despite 2 workers
    assert [x["pts"] for x in lines] == pytest.approx([i / 10 for i in range(12)])
    assert all(x["skeleton"] == "coco18" and x["stream"] == 0 for x in lines)
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["streams"][0]["frames_in"] == saved["streams"][0]["frames_out"] == 12
    counted = {k: saved["streams"][0][k] for k in (
        "frames_inferred", "work_items", "frames_skipped", "items_per_frame")}
    assert counted == {"frames_inferred": 12, "work_items": 12, "frames_skipped": 0,
                       "items_per_frame": 1.0}  # one whole-frame item per frame
    pids = [s["pid"] for s in summary.stages]
    assert len(set(pids)) == len(pids) == 6 and os.getpid() not in pids
    assert shm_segments() == []


@pytest.mark.shared
def test_real_model_on_60_vtest_frames(tmp_path: Path) -> None:
    video, model = shared_file("media/vtest.mp4"), shared_file(f"models/{MODEL_NAME}")
    out, jsonl, summary = tmp_path / "v.mp4", tmp_path / "v.jsonl", tmp_path / "s.json"
    result = run_cli("run", str(video), "-o", str(out), "--json", str(jsonl), "--model", str(model),
                     "--max-frames", "60", "--summary", str(summary))
    assert result.returncode == 0, result.stderr
    assert probe_video(out)[:2] == (60, Fraction(10))
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(lines) == 60
    with_people = sum(1 for x in lines if x["persons"])
    assert with_people >= 40, f"people found in only {with_people} of 60 frames"
    person = next(p for x in lines for p in x["persons"])
    assert len(person["keypoints"]) == 18 and person["id"] >= 0  # tracked by default
    xs = [k[0] for x in lines for p in x["persons"] for k in p["keypoints"] if k[2] > 0]
    assert min(xs) >= 0 and max(xs) <= 479  # frame pixels, not map or input pixels
    stages = json.loads(summary.read_text())["stages"]
    names = sorted(s["stage"] for s in stages)  # one or more infer workers (auto: per core)
    assert [n for n in names if not n.startswith("infer")] == [
        "decode0", "postprocess0", "preprocess", "render"]
    assert len({s["pid"] for s in stages}) == len(stages)
    assert any(n.startswith("infer") for n in names)
    assert "streampose: 60 frames in, 60 out, 0 dropped" in result.stderr
    assert shm_segments() == []


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp2", rate=44100)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1152
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


BAD_INPUTS = {
    "missing file": (lambda d: d / "nope.mp4", "no such file", 3),
    "zero-byte file": (lambda d: _file(d / "empty.mp4", b""), "file is empty", 3),
    "text renamed .mp4": (lambda d: _file(d / "t.mp4", b"hello\n"), "not a video file", 3),
    "audio only": (lambda d: _audio_only(d / "a.mp2"), "no video stream", 3),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_and_exit_code(tmp_path: Path, case: str) -> None:
    make, message, code = BAD_INPUTS[case]
    source = make(tmp_path)
    result = run_cli("run", str(source), "--model", str(MODEL_NAME), "--backend", "fake",
                     "-o", str(tmp_path / "out.mp4"))
    assert result.returncode == code
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("target", ["missing/out.mp4", "clip.mp4/out.mp4"])
def test_unwritable_output_is_refused_before_starting(tmp_path: Path, clip: Path,
                                                       target: str) -> None:
    result = run_cli("run", str(clip), "--model", str(MODEL_NAME), "--backend", "fake",
                     "-o", str(tmp_path / target))
    assert result.returncode == 4 and "video output" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_names_it(clip: Path) -> None:
    result = run_cli("run", str(clip), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--batch", "0")
    assert result.returncode == 2 and "batch: 0" in result.stderr


def test_failing_stage_is_reported_with_its_name(tmp_path: Path, clip: Path) -> None:
    bogus = tmp_path / "broken.onnx"
    bogus.write_bytes(b"not an onnx model")
    specs = Path(__file__).resolve().parents[1] / "streampose/models/specs"
    (tmp_path / "broken.toml").write_text((specs / "openpose-mnv2s-coco18.toml").read_text())
    result = run_cli("run", str(clip), "--model", str(bogus), "-o", str(tmp_path / "o.mp4"))
    assert result.returncode == 5, result.stderr
    assert re.search(r"stage 'infer\d*' failed", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert shm_segments() == []


@pytest.mark.parametrize("victim", ["infer", "postprocess0", "decode0"])
def test_killed_stage_stops_the_run_quickly(tmp_path: Path, victim: str) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=300)
    # 100 ms a batch: the run lasts seconds however fast the machine (with the fork
    # server a fast one finished 300 frames before the first progress tick).
    config = PipelineConfig(sources=(str(clip),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake",
                                              backend_options={"delay_ms": 100}),
                            outputs=OutputsConfig(video=str(tmp_path / "o.mp4")))
    killed: list[float] = []

    def kill_once(progress) -> None:
        if not killed and progress.streams[0]["frames_out"] >= 3:
            name = min(n for n in progress.pids if re.fullmatch(rf"{victim}\d*", n))
            os.kill(progress.pids[name], signal.SIGKILL)  # infer, or infer0 with workers
            killed.append(time.monotonic())

    with pytest.raises(StageError, match=rf"'{victim}\d*'.*killed by signal 9"):
        Pipeline(config).run(on_progress=kill_once)
    assert killed and time.monotonic() - killed[0] < 60  # noticed (a deadline, not a speed)
    assert shm_segments() == []


def test_sigint_finalises_outputs_and_exits_130(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "long.mp4", frames=3000)
    out, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streampose", "run", str(clip), "--model", str(MODEL_NAME),
         "--backend", "fake", "-o", str(out), "--json", str(jsonl)],
        stderr=subprocess.PIPE, text=True)
    wait_until(lambda: jsonl.exists() and jsonl.stat().st_size >= 2000, timeout=120,
               what="the first JSON lines written")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "drain took longer" not in stderr  # drained, not cut off by the drain timeout
    lines = jsonl.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # only complete lines
    frames = probe_video(out)[0]
    assert 0 < frames < 3000 and frames == len(lines)
    assert shm_segments(proc.pid) == []


@pytest.mark.parametrize(("rule", "message"), [
    ({"name": "a", "points": [0, 0, 50, 0], "camera": "nope"},
     "camera = 'nope' is not one of this run's cameras (clip)"),
    ({"name": "a", "points": [0, 0, 50, 0], "anchor": "tail"}, "anchor 'tail': not one of"),
    ({"name": "a", "points": [0, 0, 50, 0], "x": 1}, "unknown key 'x'"),  # built here
])
def test_event_rules_are_checked_against_the_run(clip: Path, rule: dict[str, object],
                                                 message: str) -> None:
    from streampose.config.sections import EventsConfig
    from streampose.errors import ConfigError
    from streampose.pipeline import STEPS
    from streampose.planning.validate import validate

    config = PipelineConfig(sources=(str(clip),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake"),
                            events=EventsConfig(line=(rule,)))
    with pytest.raises(ConfigError) as caught:
        validate(config, STEPS)
    assert message in str(caught.value)


def test_the_steps_declare_every_channel_their_stages_use(clip: Path) -> None:
    """No GPU, no run: the declared topology builds every stage, and a stage whose step
    loses a read it uses is refused."""
    from dataclasses import replace

    from streampose.pipeline import STEPS
    from streampose.planning.run_state import RunState
    from streampose.runtime.channels import UndeclaredChannelError
    from streampose.runtime.supervisor import Supervisor
    from streampose.runtime.topology import Topology
    from streampose.stages.render import RenderStage

    pipeline = Pipeline(PipelineConfig(sources=(str(clip), str(clip)),
                                       model=ModelConfig(path=MODEL_NAME, backend="fake")))
    plan = pipeline.plan
    assert pipeline.topology.describe() == (  # as ARCHITECTURE.md quotes it
        "decode[stream] -> frames[stream] -> preprocess[shard] -> inputs -> infer[worker] "
        "-> maps -> postprocess[worker] -> results[shard] -> render[shard]")
    blind = tuple(replace(s, reads=("results[shard]",)) if s.stage is RenderStage else s
                  for s in STEPS)
    with Supervisor() as sup:
        state = RunState.create(plan, sup)
        stages = pipeline.topology.build(sup, plan, state)
        kinds = [s.kind for s in stages]
        assert {k: kinds.count(k) for k in kinds} == pipeline.topology.layout()
        assert kinds[:2] == ["decode", "decode"] and kinds[-1] == "render"
        assert stages[-1].counters is state.counters  # type: ignore[attr-defined]
    with Supervisor() as sup:  # the channels again, by the same names: another supervisor
        state = RunState.create(plan, sup)
        with pytest.raises(UndeclaredChannelError,
                           match=r"render\[shard\] does not declare that it reads channel "
                                 r"'frames'"):
            Topology(blind, counts=plan.count).build(sup, plan, state)
    assert shm_segments() == []
