"""The run's memory figures against an outside sampler: a thread of this test reads the
run's process tree from /proc on its own (its own code, four times as often) while
``streampose run`` goes on; the summary's peaks of the whole tree agree within 10%."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from streampose.services.memory import MemoryService
from tests.support.media import make_video

pytestmark = pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(),
                                reason="needs Linux /proc with smaps_rollup")


class OutsideSampler(threading.Thread):
    """The peak sums of Rss and Pss over ``root``'s tree, every ``every_s``."""

    def __init__(self, root: int, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.every_s = root, every_s
        self.done = threading.Event()
        self.peak_rss = self.peak_pss = self.processes = 0

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            sizes = [_rollup(pid) for pid in _tree(self.root)]
            sizes = [s for s in sizes if s]
            self.peak_rss = max(self.peak_rss, sum(s["Rss:"] for s in sizes))
            self.peak_pss = max(self.peak_pss, sum(s["Pss:"] for s in sizes))
            self.processes = max(self.processes, len(sizes))


def _tree(root: int) -> list[int]:
    parent_of = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [root]
    for pid in tree:
        tree += [child for child, parent in parent_of.items() if parent == pid]
    return tree


def _rollup(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return {}
    return {p[0]: int(p[1]) * 1024 for p in map(str.split, lines)
            if p[0] in ("Rss:", "Pss:")}


# alone: with a heavy test beside it (pytest-xdist on 2 cores) and a 2 s run, the summary's
# peak PSS came out at 147 MB against the outside sampler's 253 MB once: a peak between the
# service's few samples
@pytest.mark.alone
def test_the_summary_s_peaks_match_an_outside_sampler(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=240, size=(320, 240))
    summary = tmp_path / "s.json"
    run = subprocess.Popen(
        [sys.executable, "-m", "streampose", "run", str(clip), "--model",
         "openpose-mnv2s-coco18.onnx", "--backend", "fake", "--json", str(tmp_path / "o.jsonl"),
         "--summary", str(summary),
         # 25 ms a frame: 6 s or more in its steady state, a dozen of the service's
         # samples (0.5 s apart); a 2 s run gave it 4, and one of them missed the peak
         "--backend-option", "delay_ms=25"],
        stderr=subprocess.PIPE, text=True)
    outside = OutsideSampler(run.pid)
    outside.start()
    _, stderr = run.communicate(timeout=300)
    outside.done.set()
    outside.join()
    assert run.returncode == 0, stderr
    memory = json.loads(summary.read_text())["memory"]
    tree = memory["tree"]
    assert tree["peak_pss_mb"] == pytest.approx(outside.peak_pss / 1e6, rel=0.1)
    assert tree["peak_rss_mb"] == pytest.approx(outside.peak_rss / 1e6, rel=0.1)
    assert outside.processes >= tree["processes"] >= 7  # parent, fork server, 5+ stages
    names = {p["process"] for p in memory["processes"]}
    assert {"parent", "forkserver", "decode0", "render"} <= names
    assert f"{tree['peak_pss_mb']:.0f} MB PSS" in stderr.splitlines()[-1]


def test_the_service_names_the_stages_and_feeds_the_metrics() -> None:
    from streampose.observe.metrics import MetricsSnapshot, RunMetrics

    class Stages:
        pids: ClassVar[dict[str, int]] = {"render": 1}  # not in this tree: never seen

    metrics = RunMetrics(lambda: MetricsSnapshot())
    service = MemoryService(supervisor=Stages(), metrics=metrics)  # type: ignore[arg-type]
    service.start()
    service.tick(0.0)
    text = metrics.exposition().decode()
    assert 'streampose_memory_pss_bytes{pid="",process="tree"}' in text
    assert 'streampose_memory_peak_rss_bytes{pid="' in text and 'process="parent"' in text
    assert service.peaks.samples == 2
