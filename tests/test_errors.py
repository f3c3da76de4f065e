"""streampose.errors: how a stage's error arrives in the parent (remote_error)."""

from __future__ import annotations

import pytest

from streampose.errors import OutputError, SourceError, StageError, remote_error


@pytest.mark.parametrize(("kind", "cls", "code"), [("OutputError", OutputError, 4),
                                                   ("SourceError", SourceError, 3),
                                                   ("SourceTimeoutError", SourceError, 3)])
def test_output_and_source_errors_arrive_as_themselves(kind: str, cls: type, code: int) -> None:
    error = remote_error("render", kind, "video output o.mp4: cannot write (full)", code, "tb")
    assert isinstance(error, cls) and type(error).__name__ == kind
    assert str(error) == "video output o.mp4: cannot write (full)"
    assert error.exit_code == code and error.stage == "render"  # type: ignore[attr-defined]
    assert error.remote_traceback == "tb"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "code"), [("ValueError", 6), ("ModelError", 5)])
def test_other_errors_name_the_stage(kind: str, code: int) -> None:
    error = remote_error("infer", kind, "broken", code)
    assert isinstance(error, StageError) and error.exit_code == code
    assert str(error) == f"stage 'infer' failed: {kind}: broken"
