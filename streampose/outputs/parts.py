"""Files that span streams, written by several render shards: one part per shard,
joined into the file asked for once the run ends.

A render shard owns some streams; JSON lines and COCO results hold every stream in one
file, so each shard writes its own part next to it (``out.jsonl.part0``, ...) and the
parent joins the parts in shard order (:func:`join_parts`) and removes them. Each
stream's records keep their order (one shard owns a stream); records of different
streams are grouped by shard instead of interleaved as they came out. A run that fails
still gets what its parts hold, as an unsharded run keeps what it wrote.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from streampose.config.sections import OutputsConfig
from streampose.errors import OutputError

__all__ = ["clear_parts", "join_parts", "part_path"]

log = logging.getLogger(__name__)

_COCO_OPEN, _COCO_CLOSE = "[", "\n]\n"  # as CocoResultsSink writes them


def part_path(path: Path, part: int | None) -> Path:
    """Where shard ``part`` writes ``path`` (``path`` itself when there are no parts)."""
    return path if part is None else path.with_name(f"{path.name}.part{part}")


def _spanning(outputs: OutputsConfig) -> list[Path]:
    return [p for p in (outputs.json, outputs.coco) if p is not None]


def clear_parts(outputs: OutputsConfig, parts: int, lines: Sequence[Path] = ()) -> None:
    """Remove parts an earlier run left (before the shards start writing theirs);
    ``lines``: other JSON lines files that span streams (the events)."""
    if parts < 2:
        return
    for path in [*_spanning(outputs), *lines]:
        for i in range(parts):
            part_path(path, i).unlink(missing_ok=True)


def join_parts(outputs: OutputsConfig, parts: int, lines: Sequence[Path] = ()) -> None:
    """Join the ``parts`` parts of the JSON lines and COCO files of ``outputs`` and of the
    JSON lines files ``lines`` (when there is more than one part) and remove them; parts
    that were never written are skipped."""
    if parts < 2:
        return
    for path in [p for p in (outputs.json,) if p is not None] + list(lines):
        _join(path, parts, _concatenate)
    if outputs.coco is not None:
        _join(outputs.coco, parts, _join_coco)


def _join(path: Path, parts: int, how: Callable[[list[Path], Path], None]) -> None:
    found = [p for p in (part_path(path, i) for i in range(parts)) if p.exists()]
    if not found:
        return
    try:
        how(found, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot join the parts {found[0].name}...: {exc}") from exc
    for part in found:
        part.unlink()
    log.debug("%s: joined %d parts", path, len(found))


def _concatenate(parts: list[Path], path: Path) -> None:
    """JSON lines: the parts one after the other."""
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)


def _join_coco(parts: list[Path], path: Path) -> None:
    """COCO results: one array of every part's results, laid out as one sink writes it.
    A part cut short (its shard failed) contributes what it holds up to its last result."""
    bodies = [b for b in (_coco_body(p.read_text(encoding="utf-8")) for p in parts) if b]
    path.write_text(_COCO_OPEN + ",".join(bodies) + _COCO_CLOSE, encoding="utf-8")


def _coco_body(text: str) -> str:
    """The results of one part's array: what lies between ``[`` and the closing ``]``."""
    body = text[len(_COCO_OPEN):] if text.startswith(_COCO_OPEN) else text
    if body.endswith(_COCO_CLOSE):
        return body[:-len(_COCO_CLOSE)]
    return body[:body.rfind("}") + 1] if "}" in body else ""
