"""The console in a real browser during a real run on two files.

Debian's chromium (``/usr/bin/chromium``), driven by Playwright's sync API in a thread,
nothing downloaded. The pipeline runs in this process (fake backend, slowed down so that
the run outlasts the checks on a loaded machine too); the browser thread ends it with
SIGINT when done. The
console is bound beyond loopback with a token: the page without it is a 401. The event is
a fake one fed through the console sink, the seam the render stage uses.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config import BatchingConfig, ModelConfig
from streampose.config.sections import ConsoleConfig
from streampose.console.sink import ConsoleSink
from streampose.outputs.base import FrameMeta
from streampose.pose import Poses, get_skeleton
from tests.live.camera import free_port
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments

pytestmark = [pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 90_000  # deadline of each wait in the page (a loaded machine is slow, not wrong)


@dataclass(frozen=True)
class FakeEvent:
    type: str = "fall"
    camera: str = "a"

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "type": self.type, "rule": "fall", "track_id": 7,
                "time": 1.7e9, "frame": 1, "pts": 0.1, "position": [10.0, 20.0]}


@dataclass
class Browse:
    """The browser's side, on its own thread; ``want_event`` asks the main thread for an
    event, ``errors`` collects what went wrong, ``shots`` what was saved."""

    base: str
    out: Path
    want_event: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def run(self) -> None:
        try:
            self._browse()
        except BaseException:
            self.errors.append(traceback.format_exc())
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # ends the run: outputs finished, exit 130

    def _browse(self) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                        args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                refused = page.goto(self.base)
                assert refused is not None and refused.status == 401, "no token: not a 401"
                assert page.goto(self.base + "?token=s3cret").status == 200  # type: ignore[union-attr]
                self._check(page)
            finally:
                browser.close()

    def _check(self, page: Any) -> None:
        pics = [page.locator(f"#cam-{i} img.pic") for i in (0, 1)]
        for i in (0, 1):  # both live pictures arrive ...
            page.wait_for_function(f"() => (document.querySelector('#cam-{i} img.pic') || "
                                   "{}).src?.startsWith('blob:')", timeout=WAIT_MS)
        first = [pic.screenshot() for pic in pics]
        srcs = [pic.get_attribute("src") for pic in pics]
        for i in (0, 1):  # ... and are replaced by newer ones, which look different
            page.wait_for_function(f"(old) => document.querySelector('#cam-{i} img.pic').src "
                                   "!== old", arg=srcs[i], timeout=WAIT_MS)
        deadline = time.monotonic() + WAIT_MS / 1000  # a loaded machine paints late
        while True:  # until each picture on screen differs from its first screenshot
            second = [pic.screenshot() for pic in pics]
            if all(a != b for a, b in zip(first, second, strict=True)):
                break
            assert time.monotonic() < deadline, "pictures not updating"
            page.wait_for_timeout(200)
        for i, camera in ((0, "a"), (1, "b")):
            page.wait_for_function(f"() => document.querySelector('#cam-{i} .state')"
                                   ".textContent === 'online'", timeout=WAIT_MS)
            assert page.locator(f"#cam-{i} .name").text_content() == camera
            stats = page.locator(f"#cam-{i} .stats").first.text_content() or ""
            assert "fps" in stats and "dropped" in stats and "lag p95" in stats, stats
            page.wait_for_function(f"() => document.querySelector('#cam-{i} .work')"
                                   ".textContent.includes('1.0 items/frame')", timeout=WAIT_MS)
        self.want_event.set()
        page.wait_for_function("() => [...document.querySelectorAll('.event')].some(e => "
                               "e.textContent.includes('fall') && "
                               "e.querySelector('img')?.naturalWidth > 0)", timeout=WAIT_MS)
        shot = self.out / "console.png"
        page.screenshot(path=str(shot), full_page=True)
        self.shots.append(shot)


def _feed_event(pipeline: Pipeline) -> None:
    """One fake event on stream 0 through the console sink, with a picture for its thumbnail."""
    link = pipeline.console
    assert link is not None
    sink = ConsoleSink(link=link, stream=0, camera=pipeline.plan.cameras[0])
    meta = FrameMeta(stream=0, frame=1, pts=1, pts_s=0.1, wall=1.7e9, image_id=1)
    image = np.full((240, 320, 3), 180, np.uint8)
    sink.write(meta, Poses(np.zeros((0, 18, 3), np.float32), np.zeros(0, np.float32),
                           get_skeleton("coco18")), image)
    sink.write_events(meta, [FakeEvent()])


def test_two_cameras_live_in_a_browser(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (bash .ci/apt.sh console)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    clips = [make_video(tmp_path / f"{name}.mp4", frames=1500, size=(256, 192), fps=25)
             for name in ("a", "b")]
    port = free_port()
    config = PipelineConfig(
        sources=tuple(str(c) for c in clips),
        # 200 ms a frame (batches of one): the run lasts minutes, and the browser ends it
        # with SIGINT once done, so the pictures keep changing however slowly it starts.
        model=ModelConfig(path=MODEL_NAME, backend="fake", backend_options={"delay_ms": 200}),
        batching=BatchingConfig(batch=1),
        console=ConsoleConfig(serve=f"0.0.0.0:{port}", serve_auth="s3cret"))
    pipeline = Pipeline(config)
    browse = Browse(base=f"http://127.0.0.1:{port}/", out=tmp_path)
    thread = threading.Thread(target=browse.run, name="browser", daemon=True)
    fed = False

    def on_progress(_: Any) -> None:
        nonlocal fed
        if not thread.is_alive() and not thread.ident:
            thread.start()
        if browse.want_event.is_set() and not fed:
            _feed_event(pipeline)
            fed = True

    summary = pipeline.run(on_progress=on_progress)
    thread.join(timeout=60)
    assert not browse.errors, "\n".join(browse.errors)
    assert summary.signal == signal.SIGINT, "the run ended before the browser was done"
    assert shm_segments() == []
    print(f"console screenshot: {browse.shots[0]}")
    assert browse.shots[0].stat().st_size > 10_000
