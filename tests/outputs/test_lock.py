"""Output locks (streampose.outputs.lock): one writer per output, released by the kernel
when the owner dies, whatever way it dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streampose.config import ModelConfig, OutputsConfig, PipelineConfig
from streampose.config.sections import EventsConfig
from streampose.errors import OutputError
from streampose.outputs.lock import OutputLocks, lock_path, refuse_existing, run_outputs


def test_a_held_output_is_refused_or_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                            ) -> None:
    folder, out = tmp_path / "locks", tmp_path / "o.mp4"
    with OutputLocks([("-o", out)], refuse=True, folder=folder):
        with pytest.raises(OutputError, match=rf"-o {out}: another streampose run \(pid "
                                              rf"{os.getpid()}\) is writing it"):
            OutputLocks([("-o", out)], refuse=True, folder=folder).open()
        with caplog.at_level(logging.WARNING), \
                OutputLocks([("-o", out)], refuse=False, folder=folder):
            assert "another streampose run" in caplog.text
    assert list(folder.iterdir()) == []  # released and removed
    with OutputLocks([("-o", out)], refuse=True, folder=folder):  # free again
        pass


def test_the_same_file_by_another_name_is_the_same_lock(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "sub")
    assert lock_path(tmp_path / "link" / "o.jsonl") == lock_path(tmp_path / "sub" / "o.jsonl")
    assert lock_path(tmp_path / "a.jsonl") != lock_path(tmp_path / "b.jsonl")


def test_a_killed_owner_leaves_the_output_free(tmp_path: Path) -> None:
    folder, out = tmp_path / "locks", tmp_path / "o.jsonl"
    code = ("import sys, time; from pathlib import Path; "
            "from streampose.outputs.lock import OutputLocks; "
            f"OutputLocks([('--json', Path({str(out)!r}))], refuse=True, "
            f"folder=Path({str(folder)!r})).open(); print('held', flush=True); time.sleep(600)")
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline() == "held\n"
        with pytest.raises(OutputError, match=f"pid {owner.pid}"):
            OutputLocks([("--json", out)], refuse=True, folder=folder).open()
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=60)
    with OutputLocks([("--json", out)], refuse=True, folder=folder):  # the kernel freed it
        pass


def config(outputs: OutputsConfig, events: Path | None = None) -> PipelineConfig:
    return PipelineConfig(sources=("a.mp4",), model=ModelConfig(path=Path("m.onnx")),
                          outputs=outputs,
                          events=EventsConfig(jsonl=events, fall={} if events else None))


def test_run_outputs_lists_every_path_per_stream() -> None:
    outputs = OutputsConfig(video="v.mp4", json=Path("o.jsonl"), summary=Path("s.json"))
    assert run_outputs(config(outputs), 2) == [("-o", Path("v_0.mp4")), ("-o", Path("v_1.mp4")),
                                       ("--json", Path("o.jsonl")),
                                       ("--summary", Path("s.json"))]


def test_run_outputs_by_camera_name_and_only_the_recorded() -> None:
    outputs = OutputsConfig(video="rec/{camera}.mp4")
    found = run_outputs(config(outputs), 3, cameras=["a", "b", "c"],
                        recorded=[True, False, True])
    assert found == [("-o", Path("rec/a.mp4")), ("-o", Path("rec/c.mp4"))]


def test_run_outputs_leaves_out_the_events_file_and_what_is_not_a_file() -> None:
    outputs = OutputsConfig(json=Path("o.jsonl"))
    assert run_outputs(config(outputs, events=Path("e.jsonl")), 1) == \
        [("--json", Path("o.jsonl"))]


def test_refuse_existing(tmp_path: Path) -> None:
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "x.jpg").write_bytes(b"x")
    refuse_existing([("-o", empty), ("--json", tmp_path / "missing.jsonl")])
    with pytest.raises(OutputError, match=r"-o .*full: exists, and --no-overwrite is set"):
        refuse_existing([("-o", full)])
