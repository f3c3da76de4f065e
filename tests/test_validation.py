"""Validation before spawning (``Pipeline`` construction): a bad backend, device, input
size, memory budget or an output another run holds is refused in the parent, exit 2
(4 for outputs), one line, and no stage process is started: the supervisor, which alone
spawns stages, is replaced by one that fails the test if it is ever built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import streampose.pipeline
from streampose import cli
from streampose.outputs.lock import OutputLocks

MODEL = "openpose-mnv2s-coco18.onnx"


class NoSupervisor:
    def __init__(self, *args: object, **kwargs: object) -> None:
        pytest.fail("a supervisor was built: stages would have been spawned")


@pytest.fixture
def no_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streampose.pipeline, "Supervisor", NoSupervisor)


def run_main(capsys: pytest.CaptureFixture[str], clip: Path, *extra: str) -> tuple[int, str]:
    code = cli.main(["run", str(clip), "--model", MODEL, "--no-progress", *extra])
    return code, capsys.readouterr().err


REFUSED = [
    (("--backend", "foo"), 2, "--backend / [model].backend: 'foo' is not a backend"),
    (("--device", "gpu7"), 2, "--device / [model].device: 'gpu7' is not a device"),
    (("--device", "cuda:"), 2, "'cuda:' is not a device"),
    (("--backend", "torch", "--device", "cuda:7"), 2, "--device cuda:7"),
    (("--device", "cuda"), 2, "--device cuda"),  # onnxruntime here has no CUDA provider
    (("--backend", "fake", "--height", "4096", "--batch", "256"), 2,
     "of shared memory for its buffers"),
]


@pytest.mark.parametrize(("extra", "code", "message"), REFUSED,
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_refused_in_the_parent_before_any_stage(no_spawn: None, capsys: pytest.CaptureFixture[str],
                                                clip: Path, extra: tuple[str, ...], code: int,
                                                message: str) -> None:
    if "cuda" in " ".join(extra) and _has_gpu():
        pytest.skip("this machine has a CUDA device")
    got, err = run_main(capsys, clip, "--json", os.devnull, *extra)
    assert got == code, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_memory_message_names_the_sizes(no_spawn: None, capsys: pytest.CaptureFixture[str],
                                        clip: Path) -> None:
    _, err = run_main(capsys, clip, "--backend", "fake", "--height", "4096", "--batch", "256")
    assert "--batch 256" in err and "lower --height, --batch" in err


def test_no_overwrite_refuses_an_existing_output(no_spawn: None, tmp_path: Path, clip: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text("earlier run\n")
    code, err = run_main(capsys, clip, "--backend", "fake", "--json", str(out), "--no-overwrite")
    assert code == 4 and f"--json {out}: exists, and --no-overwrite is set" in err
    assert out.read_text() == "earlier run\n"


def test_no_overwrite_refuses_an_output_another_run_writes(
        no_spawn: None, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.mp4"
    with OutputLocks([("-o", out)], refuse=True):  # the other run, holding the output
        code, err = run_main(capsys, clip, "--backend", "fake", "-o", str(out),
                             "--no-overwrite")
    assert code == 4, err
    assert f"-o {out}: another streampose run (pid {os.getpid()}) is writing it" in err


def test_same_output_as_a_live_run_is_a_warning(tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "o.jsonl"
    with OutputLocks([("--json", out)], refuse=True):
        result = subprocess.run(
            [sys.executable, "-m", "streampose", "run", str(clip), "--model", MODEL,
             "--backend", "fake", "--json", str(out), "--no-progress"],
            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert f"--json {out}: another streampose run (pid {os.getpid()}) is writing it" \
        in result.stderr
    assert len(out.read_text().splitlines()) == 12


def _has_gpu() -> bool:
    from streampose.backends.auto import cuda_available, ort_has_cuda

    return cuda_available() or ort_has_cuda()
