"""Files that span streams, written by several render shards: one part per shard,
joined into the file asked for once the run ends.

A render shard owns some streams; a file that spans streams (JSON lines, COCO results,
events: the sink registry says which, :mod:`streampose.outputs.registry`) holds every
stream, so each shard writes its own part next to it (``out.jsonl.part0``, ...) and the
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

from streampose.errors import OutputError

__all__ = ["Join", "Spanning", "clear_parts", "concatenate", "join_coco", "join_parts",
           "part_path"]

log = logging.getLogger(__name__)

Join = Callable[[list[Path], Path], None]  # how a file's parts become the file
Spanning = tuple[Path, Join]  # a file that spans streams, and how its parts are joined

_COCO_OPEN, _COCO_CLOSE = "[", "\n]\n"  # as CocoResultsSink writes them


def part_path(path: Path, part: int | None) -> Path:
    """Where shard ``part`` writes ``path`` (``path`` itself when there are no parts)."""
    return path if part is None else path.with_name(f"{path.name}.part{part}")


def clear_parts(files: Sequence[Spanning], parts: int) -> None:
    """Remove the parts of ``files`` (path, join) that an earlier run left, before the
    shards start writing theirs."""
    if parts < 2:
        return
    for path, _ in files:
        for i in range(parts):
            part_path(path, i).unlink(missing_ok=True)


def join_parts(files: Sequence[Spanning], parts: int) -> None:
    """Join the ``parts`` parts of each of ``files`` (path, how: :func:`concatenate`,
    :func:`join_coco`) when there is more than one part, and remove them; parts that were
    never written are skipped. ``files``: the sink registry's
    (:meth:`streampose.outputs.registry.Registry.spanning`)."""
    if parts < 2:
        return
    for path, how in files:
        _join(path, parts, how)


def _join(path: Path, parts: int, how: Join) -> None:
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


def concatenate(parts: list[Path], path: Path) -> None:
    """JSON lines: the parts one after the other."""
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out)


def join_coco(parts: list[Path], path: Path) -> None:
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
