"""The process tree's memory from /proc: a fake /proc for the arithmetic, the real one
for this process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streampose.observe.memory import MemoryPeaks, process_tree, read_memory

KB = 1024


def _process(proc: Path, pid: int, parent: int, *, rss_kb: int, pss_kb: int | None,
             hwm_kb: int | None = None, command: str = "python") -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stat").write_text(f"{pid} (py (x) y) S {parent} 1 1 0\n")
    status = f"Name:\tpy\nVmHWM:\t{hwm_kb or rss_kb} kB\nVmRSS:\t{rss_kb} kB\n"
    (folder / "status").write_text(status)
    if pss_kb is not None:
        (folder / "smaps_rollup").write_text(
            f"5600-7fff ---p 00000000 00:00 0  [rollup]\nRss:  {rss_kb} kB\n"
            f"Pss:  {pss_kb} kB\nPss_Anon:  1 kB\n")
    (folder / "cmdline").write_text(command.replace(" ", "\0"))
    (folder / "comm").write_text(command.split()[0] + "\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    _process(root, 10, 1, rss_kb=1000, pss_kb=600)
    _process(root, 11, 10, rss_kb=2000, pss_kb=500,
             command="python -c from multiprocessing.forkserver import main")
    _process(root, 12, 11, rss_kb=3000, pss_kb=None, hwm_kb=5000)  # no smaps_rollup
    _process(root, 99, 1, rss_kb=7000, pss_kb=7000)  # not in the tree
    return root


def test_the_tree_is_the_root_and_everything_below(proc: Path) -> None:
    assert process_tree(10, proc) == [10, 11, 12]


def test_rss_pss_and_the_kernel_peak_are_read(proc: Path) -> None:
    assert read_memory(10, proc) == (m := read_memory(10, proc))
    assert m is not None and (m.rss, m.pss, m.hwm) == (1000 * KB, 600 * KB, 1000 * KB)
    fallback = read_memory(12, proc)
    assert fallback is not None and (fallback.rss, fallback.pss) == (3000 * KB, None)
    assert read_memory(404, proc) is None


def test_peaks_per_process_and_of_the_tree(proc: Path) -> None:
    peaks = MemoryPeaks(root=10, proc=proc)
    peaks.sample({12: "infer0"})
    _process(proc, 11, 10, rss_kb=1000, pss_kb=100)  # the fork server shrank
    _process(proc, 10, 1, rss_kb=1500, pss_kb=900)   # the parent grew
    peaks.sample()
    report = peaks.to_json()
    assert report["samples"] == 2
    assert report["tree"] == {"processes": 3, "peak_rss_mb": round(6000 * KB / 1e6, 1),
                              "peak_pss_mb": round(1100 * KB / 1e6, 1)}
    rows = {p["process"]: p for p in report["processes"]}
    assert set(rows) == {"parent", "forkserver", "infer0"}
    assert rows["parent"]["peak_pss_mb"] == round(900 * KB / 1e6, 1)
    assert rows["forkserver"]["peak_rss_mb"] == round(2000 * KB / 1e6, 1)
    assert rows["infer0"]["hwm_rss_mb"] == round(5000 * KB / 1e6, 1)
    tree = peaks.rows()[-1]
    assert tree["process"] == "tree" and tree["pss"] == 1000 * KB and tree["peak_pss"] == 1100 * KB


def test_nothing_is_sampled_without_proc(tmp_path: Path) -> None:
    peaks = MemoryPeaks(proc=tmp_path / "none")
    peaks.sample()
    assert peaks.samples == 0 and peaks.to_json()["processes"] == []


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc")
def test_this_process_and_a_child_on_the_real_proc() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        peaks = MemoryPeaks()
        peaks.sample({child.pid: "sleeper"})
        rows = {p["pid"]: p for p in peaks.to_json()["processes"]}
        assert rows[os.getpid()]["process"] == "parent" and rows[child.pid]["process"] == "sleeper"
        assert rows[os.getpid()]["peak_pss_mb"] > 1 and rows[child.pid]["peak_rss_mb"] > 1
    finally:
        child.kill()
        child.wait()


def test_the_tree_is_walked_again_for_a_new_named_process(proc: Path) -> None:
    peaks = MemoryPeaks(root=10, proc=proc, rescan_every=100)
    peaks.sample()
    _process(proc, 13, 11, rss_kb=4000, pss_kb=4000)  # a stage forked since
    peaks.sample()
    assert peaks.tree["processes"] == 3  # not walked again: not seen yet
    peaks.sample({13: "render"})
    assert peaks.tree["processes"] == 4
    assert {p["process"] for p in peaks.to_json()["processes"]} >= {"render"}
