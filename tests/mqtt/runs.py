"""Pipeline runs with ``--mqtt`` in a subprocess (fake backend, tiny clips)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shm import SHM, shm_segments


def run_args(clip: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streampose", "run", str(clip), "--model", str(MODEL_NAME),
            "--backend", "fake", "--mqtt", url, *extra]


def slow_clip(folder: Path, frames: int) -> Path:
    """A clip for runs that must last: the fake backend gets ``delay_ms`` per batch."""
    return make_video(folder / "cam.mp4", frames=frames)


def start(args: list[str], stderr: Path) -> subprocess.Popen[bytes]:
    """The run in its own process group (so the whole tree can be killed)."""
    with open(stderr, "wb") as err:
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the run's process group and remove the shared memory it left behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for name in shm_segments(proc.pid):
        with contextlib.suppress(FileNotFoundError):
            (SHM / name).unlink()


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0
