"""JSON lines: one object per frame, flushed as written (a reader may tail the file)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import IO, Any

from streampose.errors import OutputError


def check_writable(path: Path, what: str) -> None:
    """Raise OutputError unless ``path`` can be written; creates nothing that stays."""
    folder = path.resolve().parent
    if path.is_dir():
        raise OutputError(f"{what} {path}: is a directory")
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".streampose-check-"):
            pass
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot write in {folder} ({exc.strerror})") from exc


class JsonLinesWriter:
    """Appends one compact JSON object per line and flushes each line."""

    def __init__(self, *, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self.lines = 0

    def open(self) -> None:
        check_writable(self.path, "JSON lines output")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "open() first"
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
