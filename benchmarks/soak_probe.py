"""Reading a run's processes from /proc and its shared memory from /dev/shm (for soak.py).

Everything takes the /proc (or /dev/shm) folder as an argument so that the parsing can be
tested on a fake tree. Linux only. A process that exits between listing and reading is
skipped, never an error.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SHM = Path("/dev/shm")
KB_PER_MB = 1024.0


@dataclass(frozen=True)
class ProcSample:
    """One process at one instant: memory in MB, open fds, threads."""

    pid: int
    role: str
    rss_mb: float
    pss_mb: float
    fds: int
    threads: int


def parse_rollup(text: str) -> tuple[float, float]:
    """(Rss, Pss) in MB from the text of /proc/PID/smaps_rollup."""
    fields = _kb_fields(text)
    return fields["Rss"] / KB_PER_MB, fields["Pss"] / KB_PER_MB


def _kb_fields(text: str) -> dict[str, int]:
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def parse_threads(text: str) -> int:
    """The ``Threads:`` count from the text of /proc/PID/status."""
    for line in text.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise ValueError("no Threads: line in /proc/PID/status")


def parse_ppid(text: str) -> int:
    """The parent pid from the text of /proc/PID/stat (the command name, in parentheses,
    may itself hold spaces and parentheses: the fields after the last ')' count)."""
    after = text.rsplit(")", 1)[1].split()
    return int(after[1])  # after[0] is the state


def role_of(cmdline: bytes, parent_role: str | None) -> str:
    """What a process of the run is: ``parent`` (the tree's root, ``parent_role`` None),
    ``stage`` (forked by the fork server, whose command line it keeps), else from its
    /proc/PID/cmdline (NUL-separated): ``resource_tracker``, ``forkserver`` or ``child``."""
    if parent_role is None:
        return "parent"
    if parent_role == "forkserver":
        return "stage"
    text = cmdline.replace(b"\0", b" ").decode(errors="replace")
    if "multiprocessing.resource_tracker" in text:
        return "resource_tracker"
    if "multiprocessing.forkserver" in text:
        return "forkserver"
    return "child"


def children_of(proc: Path = PROC) -> dict[int, list[int]]:
    """Parent pid -> child pids, for every process in ``proc`` (sorted)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = parse_ppid((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry.name))
    return {ppid: sorted(pids) for ppid, pids in children.items()}


def process_tree(root: int, proc: Path = PROC) -> list[tuple[int, int | None]]:
    """``root`` and all its descendants as (pid, parent pid), parents before children
    (the root's parent is None)."""
    children = children_of(proc)
    tree: list[tuple[int, int | None]] = []
    queue: list[tuple[int, int | None]] = [(root, None)]
    while queue:
        pid, ppid = queue.pop(0)
        tree.append((pid, ppid))
        queue.extend((child, pid) for child in children.get(pid, []))
    return tree


def sample_process(pid: int, parent_role: str | None, proc: Path = PROC) -> ProcSample | None:
    """The process's memory, fds and threads now; None when it is gone."""
    base = proc / str(pid)
    try:
        rss, pss = parse_rollup((base / "smaps_rollup").read_text())
        threads = parse_threads((base / "status").read_text())
        fds = len(os.listdir(base / "fd"))
        role = role_of((base / "cmdline").read_bytes(), parent_role)
    except (OSError, KeyError, ValueError):
        return None
    return ProcSample(pid=pid, role=role, rss_mb=rss, pss_mb=pss, fds=fds, threads=threads)


def sample_tree(root: int, proc: Path = PROC) -> list[ProcSample]:
    """One sample per live process of ``root``'s tree (a process whose parent could not
    be read counts as a ``child``)."""
    samples: list[ProcSample] = []
    roles: dict[int, str] = {}
    for pid, ppid in process_tree(root, proc):
        parent_role = None if ppid is None else roles.get(ppid, "child")
        sample = sample_process(pid, parent_role, proc)
        if sample is not None:
            roles[pid] = sample.role
            samples.append(sample)
    return samples


def shm_entries(run_pid: int, shm: Path = SHM) -> list[str]:
    """The run's /dev/shm names: segments ``sp-<pid>-*`` and semaphores ``sem.sp-<pid>-*``."""
    prefixes = (f"sp-{run_pid}-", f"sem.sp-{run_pid}-")
    try:
        names = os.listdir(shm)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(prefixes))
