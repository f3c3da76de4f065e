"""The one check that an output file can be written, run before anything is created.

Every output (video, JSON lines, COCO results, summary, image and OpenPose folders) is
checked with :func:`check_writable` in the parent before any stage starts, and again by
its sink or writer when it opens, so a bad path fails fast with one clear line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO

from streampose.errors import OutputError, describe_error

__all__ = ["check_writable", "discard_partial", "make_folder", "write_failed", "write_file"]


def check_writable(path: Path, what: str) -> None:
    """Raise OutputError, naming ``what`` and ``path``, unless ``path`` can be written.

    Refused: a directory at ``path``; a folder that is missing or is a file; a folder
    where no file can be created (a real probe: a temporary file, removed at once); an
    existing file that is not writable. Creates nothing that stays.
    """
    path = Path(path)
    folder = path.resolve().parent
    if path.is_dir():
        raise OutputError(f"{what} {path}: is a directory")
    _check_folder(path, folder, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{what} {path}: file exists and is not writable")


def _check_folder(path: Path, folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {path}: {folder} is not a directory")
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".streampose-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{what} {path}: cannot write in {folder} ({reason})") from exc


def make_folder(folder: Path, what: str) -> None:
    """Create ``folder`` (and its parents) if needed and check files can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"{what} {folder}: cannot create ({reason})") from exc
    _check_folder(folder, folder.resolve(), what)


def write_failed(what: str, path: Path, exc: OSError) -> OutputError:
    """The one-line error for an output that failed mid-run (disk full, removed, ...)."""
    return OutputError(f"{what} {path}: cannot write ({describe_error(exc)})")


def discard_partial(path: Path, size: int | None = None) -> None:
    """After a failed write: cut ``path`` back to its last complete ``size`` bytes, or
    remove it (``size`` None); best effort, errors ignored (the write error is reported)."""
    with contextlib.suppress(OSError):
        if size is None:
            path.unlink(missing_ok=True)
        else:
            os.truncate(path, size)


def abandon(file: IO[str] | None, path: Path, size: int) -> None:
    """After a failed write: close ``file`` quietly and cut ``path`` back to its last
    complete ``size`` bytes (best effort: the write error is the one reported)."""
    if file is not None:
        with contextlib.suppress(OSError):
            file.close()
    discard_partial(path, size)


def write_file(path: Path, text: str, what: str = "summary") -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.streampose-tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        discard_partial(tmp)
        raise write_failed(what, path, exc) from exc
