"""benchmarks/code_shape.py --json on a toy package: each joint figure counts what its
docstring says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "code_shape.py"

FILES = {
    "__init__.py": "",
    "outputs/__init__.py": "",
    "outputs/base.py": "class Sink:\n    pass\n",
    "outputs/files.py": (
        "from streampose.outputs.base import Sink\n\n"
        "class FileSink(Sink):\n    pass\n\n"
        "class VideoSink(FileSink):\n"
        "    def __init__(self, path, *, fps, size=None):\n        pass\n\n"
        "    def write(self):\n        pass\n"),
    "pose/__init__.py": "",
    "pose/track.py": "from streampose.stages import render\n",
    "stages/__init__.py": "",
    "stages/render.py": (
        "import functools\n\n"
        "from streampose.outputs.files import FileSink, VideoSink\n"
        "from streampose.pose import track\n\n"
        "ONLINE, OFFLINE = 'online', 'offline'\n\n"
        "def sinks(cfg):\n"
        "    if cfg.slots is None or not cfg.frame_slots or cfg.seats or cfg.changing:\n"
        "        return [FileSink()]\n"
        "    return [functools.partial(VideoSink, fps=1)]\n\n"
        "def state(frames, live):\n"
        "    if frames:\n        return ONLINE\n"
        "    return 'reconnecting' if live else OFFLINE\n\n"
        "def reader(state):\n"
        "    return state == 'online' or state == 'offline'\n"),
}


def test_joint_figures_of_a_toy_package(tmp_path: Path) -> None:
    root = tmp_path / "streampose"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    result = subprocess.run([sys.executable, str(SCRIPT), str(root), "--json"],
                            capture_output=True, text=True, timeout=120, check=True)
    f = json.loads(result.stdout)
    render = str(root / "stages" / "render.py")
    assert f["hubs"][0] == [2, "streampose.stages.render"]
    video = next(r for r in f["largest_classes"] if r["class"].endswith("VideoSink"))
    assert (video["methods"], video["init_args"]) == (2, 3)
    assert f["slots_is_none"] == {"total": 2, "files": {render: 2}}  # not frame_slots
    assert f["mode_flags"] == {"total": 1, "files": {render: 1}}
    assert f["sink_classes"] == ["FileSink", "VideoSink"]
    assert f["sink_constructions"] == {
        "places": 1, "files": 1, "where": {f"{render}:8 sinks": ["FileSink", "VideoSink"]}}
    assert f["state_machines"] == {
        "count": 1, "where": {f"{render}:13 state": ["offline", "online", "reconnecting"]}}
    assert f["layers"]["upward_by_kind"] == {"top": 1}
    assert f["layers"]["cycles_module_level"] == [["streampose.pose.track",
                                             "streampose.stages.render"]]
