"""EventEngine: the rules of one camera run on its tracked poses, frame by frame.

The render stage keeps one engine per stream (so render can be sharded by stream) and
calls :meth:`EventEngine.update` with every frame, in order, after tracking. People
without a track id (-1), and those with fewer than ``min_keypoints`` keypoints found
(fragments: a head and shoulders the decoder split off a person, which the tracker may
follow as a second track), are ignored. A track not seen for more than ``forget_after``
frames is forgotten by every rule (a zone then reports its ``leave`` with
``"lost": true``), so the state is bounded by the live tracks; ``max_tracks`` caps it
even if a tracker misbehaves (the longest unseen are forgotten first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streampose.errors import ConfigError
from streampose.events.detector import Detector, Hit, Seen
from streampose.events.event import Event
from streampose.events.fall import FallRule
from streampose.events.line import LineCounter, LineRule
from streampose.events.zone import ZoneRule, ZoneWatcher
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton

if TYPE_CHECKING:
    from streampose.outputs.base import FrameMeta

__all__ = ["EventEngine", "Rule"]

log = logging.getLogger(__name__)

Rule = LineRule | ZoneRule | FallRule


class EventEngine:
    """``events = engine.update(meta, poses)`` for one camera; see the module text."""

    def __init__(self, *, camera: str, rules: Sequence[Rule], skeleton: Skeleton,
                 forget_after: int = 15, max_tracks: int = 1024,
                 min_keypoints: int = 5) -> None:
        if forget_after < 0 or max_tracks < 1 or min_keypoints < 1:
            raise ConfigError(f"events: forget_after = {forget_after} must be >= 0, "
                              f"max_tracks = {max_tracks} and min_keypoints = "
                              f"{min_keypoints} >= 1")
        self.camera = camera
        mine = [r for r in rules if r.camera is None or r.camera == camera]
        names = [(type(r).__name__, r.name) for r in mine]
        if len(set(names)) != len(names):
            raise ConfigError(f"events on camera {camera!r}: two rules of a kind share a "
                              f"name ({', '.join(n for _, n in names)})")
        self.detectors: list[Detector] = [r.detector(skeleton) for r in mine]
        self.forget_after, self.max_tracks = forget_after, max_tracks
        self.min_keypoints = min_keypoints
        self._last: dict[int, Seen] = {}
        self.total = 0

    @property
    def num_tracks(self) -> int:
        """Tracks the engine remembers (each rule holds at most as many)."""
        return len(self._last)

    def occupancy(self) -> dict[str, int]:
        """People inside each zone now: ``{zone name: count}``."""
        return {d.rule: d.occupancy for d in self.detectors if isinstance(d, ZoneWatcher)}

    def counts(self) -> dict[str, dict[str, int]]:
        """Crossings of each line so far: ``{line name: {"in": n, "out": m}}``."""
        return {d.rule: dict(d.counts) for d in self.detectors if isinstance(d, LineCounter)}

    def update(self, meta: FrameMeta, poses: Poses) -> list[Event]:
        """The events of this frame (``meta``: its identity; ``poses``: tracked, in frame
        pixels), in rule order per person, then the leaves of tracks forgotten now."""
        found: list[tuple[Detector, Hit, Seen]] = []
        enough = ((poses.keypoints[..., 2] > 0).sum(axis=1) >= self.min_keypoints).tolist()
        rows = poses.keypoints.tolist()
        for row, track_id in enumerate(poses.track_ids.tolist()):
            if track_id < 0 or not enough[row]:
                continue
            seen = Seen(track_id, rows[row], meta.frame, meta.pts_s)
            self._last[track_id] = seen
            found += [(d, hit, seen) for d in self.detectors for hit in d.observe(seen)]
        found += self._forget(meta.frame)
        events = [self._event(d, hit, meta, seen) for d, hit, seen in found]
        self.total += len(events)
        return events

    def _forget(self, frame: int) -> list[tuple[Detector, Hit, Seen]]:
        stale = [t for t, s in self._last.items() if frame - s.frame > self.forget_after]
        excess = len(self._last) - len(stale) - self.max_tracks
        if excess > 0:
            fresh = sorted((s.frame, t) for t, s in self._last.items() if t not in stale)
            stale += [t for _, t in fresh[:excess]]
            log.warning("events on %s: more than %d tracks; forgetting %d", self.camera,
                        self.max_tracks, excess)
        found = []
        for track_id in stale:
            last = self._last.pop(track_id)
            found += [(d, hit, last) for d in self.detectors for hit in d.lost(track_id, last)]
        return found

    def _event(self, detector: Detector, hit: Hit, meta: FrameMeta, seen: Seen) -> Event:
        return Event(camera=self.camera, type=hit.type, rule=detector.rule,
                     track_id=seen.track_id, time=meta.wall, frame=meta.frame,
                     pts=meta.pts_s, position=hit.position, details=hit.details)
