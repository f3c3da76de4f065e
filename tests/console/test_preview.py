"""The parent side of the pictures: watch flags and the newest picture, encoded once."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from streampose.console.link import PreviewHeader
from streampose.console.preview import ONE_SHOT_S, PreviewHub


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def publish(link: Any, stream: int, frame: int, value: int) -> None:
    ring = link.previews[stream]
    slot, _ = ring.acquire_write(0.0)
    width, height = link.sizes[stream]
    ring.array(slot, (height, width, 3), np.uint8)[:] = value
    ring.publish(slot, PreviewHeader(frame, 0.0, height, width))


def test_watch_flags_follow_viewers_and_one_shots(make_link: Any) -> None:
    link, clock = make_link(), Clock()
    hub = PreviewHub(link, clock=clock)
    hub.attach(0)
    hub.attach(0)
    hub.detach(0)
    assert hub.watched(0) and not hub.watched(1)
    hub.detach(0)
    hub.detach(0)  # one too many: still nobody
    assert not hub.watched(0)
    hub.touch(1)
    assert hub.watched(1)
    clock.now += ONE_SHOT_S + 0.1
    hub.expire()
    assert not hub.watched(1)
    hub.attach(1)
    hub.stop()
    assert not hub.watched(1)


def test_newest_picture_only_and_encoded_once(make_link: Any) -> None:
    link = make_link()
    hub = PreviewHub(link)
    assert hub.jpeg(0) is None
    publish(link, 0, 7, 30)
    publish(link, 0, 8, 220)
    first = hub.jpeg(0)
    assert first is not None and first.frame == 8
    decoded = cv2.imdecode(np.frombuffer(first.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (120, 160, 3) and abs(int(decoded.mean()) - 220) <= 2
    ring = link.previews[0]
    assert ring.pending() == 0
    assert [ring.acquire_write(0.0) is not None for _ in range(3)] == [True] * 3  # all freed
    assert hub.jpeg(0) is first and hub.encoded == 1  # nothing new: the same bytes
