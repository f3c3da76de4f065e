"""The command line (``python -m streampose``) in a subprocess, and reading its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, timeout: float = 180,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m streampose ARGS`` in a subprocess, output captured as text."""
    return subprocess.run([sys.executable, "-m", "streampose", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def run_cli_pid(*args: str, timeout: float = 180
                ) -> tuple[subprocess.CompletedProcess[str], int]:
    """:func:`run_cli`, and the pid the command ran as (the names of its run's shared
    memory carry it: ``tests.support.shm.shm_segments(pid)``)."""
    with subprocess.Popen([sys.executable, "-m", "streampose", *args], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), proc.pid


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not the stages' warnings (the user-facing ones)."""
    return [line for line in stderr.splitlines()
            if line.strip() and " WARNING " not in line and not line.startswith("WARNING")]
