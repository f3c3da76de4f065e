"""A toy head for the architecture check (tests/heads/test_registry.py): the PAF head with
every keypoint moved by +1 network-input pixel in x and y.

It registers itself on import. The pipeline's stages are spawned processes that receive the
head pickled; unpickling a :class:`ToyHead` imports this module (the spawned children get
the parent's ``sys.path``), so ``head = "toy"`` is known wherever the head is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streampose.heads import register_head
from streampose.heads.paf import PafHead
from streampose.pose.poses import Poses

if TYPE_CHECKING:
    from streampose.transport.messages import FrameHeader
    from streampose.transport.ring import SharedRing

SHIFT = 1.0  # network-input pixels


@register_head
class ToyHead(PafHead):
    """PAF decoding, then every keypoint shifted by :data:`SHIFT` input pixels."""

    name = "toy"

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        poses = super().decode(ring, slot, header)
        return poses.transformed(scale=(1.0, 1.0), offset=(SHIFT, SHIFT))
