"""Lazy imports: a stage process imports what its stage needs, and no more.

Every stage runs in its own spawned process, which imports its stage's module (to
unpickle the stage) before it does anything: what that pulls in is paid at every start,
by every process. Each check runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("onnxruntime", "torch", "tensorrt", "av", "cv2", "prometheus_client", "http.server",
         "pycocotools")

# module -> the heavy modules it may import (what its stage uses)
ALLOWED = {
    "streampose.stages.decode": {"av"},
    "streampose.stages.preprocess": set(),  # OpenCV comes with the first letterbox
    "streampose.stages.infer": set(),  # the backend's library comes in open()
    "streampose.stages.postprocess": set(),
    "streampose.stages.render": set(),  # OpenCV and PyAV come with the annotators and a video
    "streampose.cli": set(),  # `streampose` script: spawned stages re-import it
}


def imported_by(module: str) -> set[str]:
    code = (f"import sys; import {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_stage_module_imports_only_what_its_stage_needs(module: str) -> None:
    assert imported_by(module) <= ALLOWED[module]


def test_the_command_line_module_does_not_import_numpy() -> None:
    code = "import sys; import streampose.cli; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"
