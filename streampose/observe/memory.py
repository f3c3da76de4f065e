"""The memory of a process tree, read from ``/proc`` (Linux): RSS and PSS per process,
and their peaks, per process and for the whole tree.

Stages fork from a server process (:mod:`streampose.runtime.spawner`), so a tool that
measures one process (``/usr/bin/time``) sees the parent only. :class:`MemoryPeaks`
samples the parent and every process below it (the fork server, the stages, the
resource tracker): each one's ``Rss`` and ``Pss`` from ``/proc/<pid>/smaps_rollup``
(``Pss``: each shared page divided among the processes that map it, so the tree's PSS
adds up to what the tree holds, where RSS counts shared pages once per process), and
its ``VmHWM`` (the kernel's own peak RSS, which no sampling gap misses) from
``/proc/<pid>/status``. Peaks of the sums are the tree's. Elsewhere (no ``/proc``)
nothing is sampled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MemoryPeaks", "ProcessMemory", "process_tree", "read_memory"]

PROC = Path("/proc")
MB = 1e6
RESCAN_EVERY = 10  # samples between two walks of every process's parent
_ROLLUP_KEYS = {"Rss:": "rss", "Pss:": "pss"}


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory now, in bytes (``pss``/``hwm``: None where not readable)."""

    pid: int
    rss: int
    pss: int | None
    hwm: int | None


def read_memory(pid: int, proc: Path = PROC) -> ProcessMemory | None:
    """``pid``'s memory now; None when it is gone (or not readable)."""
    status = _fields(proc / str(pid) / "status", {"VmRSS:": "rss", "VmHWM:": "hwm"})
    if "rss" not in status:  # gone, or a zombie (no memory left)
        return None
    rollup = _fields(proc / str(pid) / "smaps_rollup", _ROLLUP_KEYS)
    return ProcessMemory(pid=pid, rss=rollup.get("rss", status["rss"]), pss=rollup.get("pss"),
                         hwm=status.get("hwm"))


def process_tree(root: int, proc: Path = PROC) -> list[int]:
    """``root`` and every process below it (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents(proc):
        children.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        tree.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return tree


class MemoryPeaks:
    """Samples the tree below ``root`` (:meth:`sample`) and keeps the peaks: per process
    (named by ``names``, else as ``parent``/``forkserver``/its command) and of the tree's
    sums."""

    def __init__(self, *, root: int | None = None, proc: Path = PROC,
                 rescan_every: int = RESCAN_EVERY) -> None:
        self.root = os.getpid() if root is None else root
        self._proc, self._rescan_every = proc, rescan_every
        self._tree: list[int] = []
        self._seen: set[int] = set()  # every process the walks found
        self.samples = 0
        self.now: dict[int, ProcessMemory] = {}
        self._peaks: dict[int, dict[str, Any]] = {}
        self.tree = {"processes": 0, "rss": 0, "pss": 0}

    def sample(self, names: Mapping[int, str] | None = None) -> None:
        """Read every process of the tree now; update the peaks."""
        if not self._proc.is_dir():
            return
        read = [m for pid in self._pids(names or {})
                if (m := read_memory(pid, self._proc)) is not None]
        self.now = {m.pid: m for m in read}
        for m in read:
            self._update(m, (names or {}).get(m.pid))
        self.samples += 1
        tree = self.tree
        tree["processes"] = max(tree["processes"], len(read))
        tree["rss"] = max(tree["rss"], sum(m.rss for m in read))
        tree["pss"] = max(tree["pss"], sum(m.pss or 0 for m in read))

    def _pids(self, names: Mapping[int, str]) -> list[int]:
        """The tree's processes: found anew every ``rescan_every`` samples or when a named
        one is new (reading every process's parent costs more than reading the tree's
        memory), else the last ones found."""
        if self.samples % self._rescan_every == 0 or not set(names) <= self._seen:
            self._tree = process_tree(self.root, self._proc)
            self._seen.update(self._tree)
        return self._tree

    def _update(self, m: ProcessMemory, name: str | None) -> None:
        peak = self._peaks.setdefault(m.pid, {"rss": 0, "pss": 0, "hwm": None})
        peak["name"] = name or peak.get("name") or self._name(m.pid)
        peak["rss"], peak["pss"] = max(peak["rss"], m.rss), max(peak["pss"], m.pss or 0)
        if m.hwm is not None:
            peak["hwm"] = max(peak["hwm"] or 0, m.hwm)

    def _name(self, pid: int) -> str:
        if pid == self.root:
            return "parent"
        command = _read(self._proc / str(pid) / "cmdline").replace("\0", " ")
        for known in ("forkserver", "resource_tracker"):
            if known in command:
                return known
        return _read(self._proc / str(pid) / "comm").strip() or f"pid{pid}"

    def to_json(self) -> dict[str, Any]:
        """The summary's ``memory``: the tree's peaks and each process's, in MB."""
        return {"samples": self.samples,
                "tree": {"processes": self.tree["processes"],
                         "peak_rss_mb": _mb(self.tree["rss"]),
                         "peak_pss_mb": _mb(self.tree["pss"])},
                "processes": [self._process_json(pid, p) for pid, p in self._peaks.items()]}

    @staticmethod
    def _process_json(pid: int, peak: Mapping[str, Any]) -> dict[str, Any]:
        hwm = peak["hwm"]
        return {"process": peak["name"], "pid": pid, "peak_rss_mb": _mb(peak["rss"]),
                "peak_pss_mb": _mb(peak["pss"]),
                "hwm_rss_mb": None if hwm is None else _mb(hwm)}

    def rows(self) -> list[dict[str, Any]]:
        """For the metrics: each process's memory now and its peaks, in bytes, then the
        tree's (``process`` = ``tree``)."""
        rows = [{"process": p["name"], "pid": pid,
                 "rss": self.now[pid].rss if pid in self.now else 0,
                 "pss": (self.now[pid].pss or 0) if pid in self.now else 0,
                 "peak_rss": max(p["rss"], p["hwm"] or 0), "peak_pss": p["pss"]}
                for pid, p in self._peaks.items()]
        now = self.now.values()
        return [*rows, {"process": "tree", "pid": "", "rss": sum(m.rss for m in now),
                        "pss": sum(m.pss or 0 for m in now), "peak_rss": self.tree["rss"],
                        "peak_pss": self.tree["pss"]}]


def _mb(value: int) -> float:
    return round(value / MB, 1)


def _fields(path: Path, wanted: Mapping[str, str]) -> dict[str, int]:
    """``{name: bytes}`` of the ``Key:  123 kB`` lines of ``path`` named in ``wanted``."""
    found = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0] in wanted and parts[1].isdigit():
            found[wanted[parts[0]]] = int(parts[1]) * 1024
    return found


def _parents(proc: Path) -> Iterator[tuple[int, int]]:
    """``(pid, parent pid)`` of every process."""
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = _read(entry / "stat")
            fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
            if len(fields) > 1:
                yield int(entry.name), int(fields[1])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:  # the process is gone, or not ours to read
        return ""
