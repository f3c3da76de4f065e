"""PoseTracker on COCO-17 poses (keypoint heads): the tracker is layout-agnostic."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.backends.fake_people import standing_person
from streampose.pose import COCO17, COCO18, Poses, convert
from streampose.pose.tracking import PoseTracker


def coco17_frame(xs: list[float]) -> Poses:
    """COCO-17 people standing at ``xs``."""
    if not xs:
        return Poses.empty(COCO17)
    kp = np.stack([standing_person(x=x, top=100, height=200) for x in xs])
    return convert(Poses(kp, np.ones(len(xs), np.float32), COCO18), COCO17)


def test_two_walkers_keep_their_ids() -> None:
    tracker = PoseTracker()
    ids = [tracker.update(coco17_frame([100 + 4 * t, 600 - 4 * t])).track_ids.tolist()
           for t in range(30)]
    assert ids[0] == [0, 1]
    assert all(frame == [0, 1] for frame in ids)


def test_a_coco17_person_missed_for_a_few_frames_keeps_its_id() -> None:
    tracker = PoseTracker(max_age=5)
    frames = [[100 + 3 * t] if not 10 <= t < 13 else [] for t in range(20)]
    ids = [tracker.update(coco17_frame(xs)).track_ids.tolist() for xs in frames]
    assert {i for frame in ids for i in frame} == {0}


def test_coco17_tracks_match_coco18_tracks() -> None:
    """The same people in either layout get the same ids (the neck adds nothing new)."""
    tracks = []
    for to_coco18 in (False, True):
        tracker = PoseTracker()
        out = []
        for t in range(20):
            poses = coco17_frame([100 + 5 * t, 300, 500 - 5 * t])
            out.append(tracker.update(convert(poses, COCO18) if to_coco18 else poses)
                       .track_ids.tolist())
        tracks.append(out)
    assert tracks[0] == tracks[1]


def test_switching_layout_needs_a_reset() -> None:
    tracker = PoseTracker()
    tracker.update(coco17_frame([100]))
    with pytest.raises(ValueError, match="call reset"):
        tracker.update(convert(coco17_frame([100]), COCO18))
    tracker.reset()
    assert tracker.update(convert(coco17_frame([100]), COCO18)).track_ids.tolist() == [0]
