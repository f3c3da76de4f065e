"""benchmarks/soak_probe.py: /proc and /dev/shm parsing on a fake tree, and on this process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from soak_probe import (  # noqa: E402  (benchmarks/ is a script folder, not a package)
    children_of,
    parse_ppid,
    parse_rollup,
    parse_threads,
    process_tree,
    role_of,
    sample_process,
    sample_tree,
    shm_entries,
)

ROLLUP = """5595814f3000-7fff0e756000 ---p 00000000 00:00 0                          [rollup]
Rss:              123552 kB
Pss:               66159 kB
Pss_Dirty:         58840 kB
Shared_Clean:      64684 kB
"""
FORKSERVER = b"python\0-B\0-c\0from multiprocessing.forkserver import main; main(6, 8)\0"
TRACKER = b"python\0-B\0-c\0from multiprocessing.resource_tracker import main;main(6)\0"


def fake_process(proc: Path, pid: int, ppid: int, *, cmdline: bytes = b"python\0",
                 fds: int = 3, threads: int = 1, rss_kb: int = 2048, pss_kb: int = 1024,
                 comm: str = "python") -> None:
    base = proc / str(pid)
    (base / "fd").mkdir(parents=True)
    for fd in range(fds):
        (base / "fd" / str(fd)).touch()
    (base / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    (base / "status").write_text(f"Name:\t{comm}\nThreads:\t{threads}\nVmRSS:\t1 kB\n")
    (base / "smaps_rollup").write_text(f"0-1 ---p 0 00:00 0 [rollup]\nRss: {rss_kb} kB\n"
                                       f"Pss: {pss_kb} kB\n")
    (base / "cmdline").write_bytes(cmdline)


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A fake /proc: run 100 with a resource tracker (101), a fork server (102) and two
    stages (103, 104); an unrelated process 200 with its own child 201."""
    root = tmp_path / "proc"
    fake_process(root, 100, 1, cmdline=b"python\0-m\0streampose\0run\0x\0", threads=5)
    fake_process(root, 101, 100, cmdline=TRACKER)
    fake_process(root, 102, 100, cmdline=FORKSERVER)
    fake_process(root, 103, 102, cmdline=FORKSERVER, fds=9, threads=4, rss_kb=4096)
    fake_process(root, 104, 102, cmdline=FORKSERVER, comm="a) b (c")
    fake_process(root, 200, 1)
    fake_process(root, 201, 200)
    (root / "self").mkdir()  # not a pid: ignored
    return root


def test_rollup_gives_rss_and_pss_in_mb() -> None:
    rss, pss = parse_rollup(ROLLUP)
    assert rss == pytest.approx(123552 / 1024) and pss == pytest.approx(66159 / 1024)


def test_rollup_without_pss_is_an_error() -> None:
    with pytest.raises(KeyError):
        parse_rollup("Rss: 10 kB\n")


def test_threads_from_status() -> None:
    assert parse_threads("Name:\tx\nThreads:\t17\n") == 17
    with pytest.raises(ValueError):
        parse_threads("Name:\tx\n")


def test_ppid_survives_a_command_name_with_parentheses_and_spaces() -> None:
    assert parse_ppid("42 (a) b (c) S 7 42 42 0\n") == 7


def test_roles_come_from_the_tree_then_the_command_line() -> None:
    assert role_of(b"anything", None) == "parent"
    assert role_of(FORKSERVER, "forkserver") == "stage"  # keeps its server's command line
    assert role_of(FORKSERVER, "parent") == "forkserver"
    assert role_of(TRACKER, "parent") == "resource_tracker"
    assert role_of(b"ffmpeg\0", "parent") == "child"


def test_children_and_tree_walk_only_the_run(proc: Path) -> None:
    assert children_of(proc)[102] == [103, 104]
    assert process_tree(100, proc) == [(100, None), (101, 100), (102, 100), (103, 102),
                                       (104, 102)]


def test_sample_tree_labels_and_measures_every_process(proc: Path) -> None:
    samples = {s.pid: s for s in sample_tree(100, proc)}
    assert {pid: s.role for pid, s in samples.items()} == {
        100: "parent", 101: "resource_tracker", 102: "forkserver", 103: "stage",
        104: "stage"}
    assert (samples[103].fds, samples[103].threads, samples[103].rss_mb,
            samples[103].pss_mb) == (9, 4, 4.0, 1.0)
    assert samples[100].threads == 5


def test_a_process_gone_between_listing_and_reading_is_skipped(proc: Path) -> None:
    (proc / "104" / "smaps_rollup").unlink()
    assert [s.pid for s in sample_tree(100, proc)] == [100, 101, 102, 103]
    assert sample_process(999, "parent", proc) is None


def test_this_process_can_be_sampled_from_the_real_proc() -> None:
    if not Path("/proc/self/smaps_rollup").exists():
        pytest.skip("needs Linux /proc with smaps_rollup")
    sample = sample_process(os.getpid(), None)
    assert sample is not None and sample.role == "parent"
    assert sample.rss_mb > 0 and sample.fds >= 3 and sample.threads >= 1


def test_shm_entries_are_the_runs_segments_and_semaphores(tmp_path: Path) -> None:
    for name in ("sp-100-ab-frames0", "sem.sp-100-ab-sem-x", "sp-1000-cd-frames0",
                 "sem.sp-10-ef-sem-y", "other"):
        (tmp_path / name).touch()
    assert shm_entries(100, tmp_path) == ["sem.sp-100-ab-sem-x", "sp-100-ab-frames0"]
    assert shm_entries(100, tmp_path / "missing") == []
