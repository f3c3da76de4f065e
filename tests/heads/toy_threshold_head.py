"""A toy head with its own threshold, for the architecture check
(tests/heads/test_toy_threshold_head.py): the PAF head, then the people scoring under
``min_score`` dropped. The threshold comes from the pipeline file's ``[head.toy_floor]``
table, read by :meth:`FloorHead.parse_settings`: no config section, no other file.

It registers itself on import; the spawned stages unpickle the head, which imports this
module there too (see tests/heads/toy_head.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streampose.errors import ConfigError
from streampose.heads import register_head
from streampose.heads.paf import PafHead
from streampose.pose.poses import Poses

if TYPE_CHECKING:
    from streampose.transport.messages import FrameHeader
    from streampose.transport.ring import SharedRing


@dataclass(frozen=True)
class Floor:
    """The head's own thresholds."""

    min_score: float = 0.0


@register_head
class FloorHead(PafHead):
    """PAF decoding, then only the people whose score is at least ``min_score``."""

    name = "toy_floor"

    @classmethod
    def parse_settings(cls, table: Mapping[str, object], *, source: str) -> Floor:
        unknown = set(table) - {"min_score"}
        if unknown:
            raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r} (known: min_score)")
        value = table.get("min_score", 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{source}.min_score = {value!r}: expected a number >= 0")
        return Floor(min_score=float(value))

    @property
    def floor(self) -> Floor:
        own = self.settings.get("head")
        return own if isinstance(own, Floor) else Floor()

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        poses = super().decode(ring, slot, header)
        keep = poses.scores >= self.floor.min_score
        return Poses(poses.keypoints[keep], poses.scores[keep], poses.skeleton)
