"""Skeletons as data: keypoint names, limbs, PAF channel pairs and draw colours.

Layouts are the published OpenPose ones (COCO-18 as in OpenPose / Lightweight OpenPose /
tf-pose, BODY-25 as in OpenPose). A skeleton carries everything the decoder and the
renderer need, so a new layout is a new constant, not new code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Color = tuple[int, int, int]

# OpenPose's rendering palette (RGB), cycled over keypoints and limbs.
_PALETTE: tuple[Color, ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout and the limbs (keypoint pairs) its PAF channels describe.

    ``paf_channels[i]`` gives the (x, y) PAF channel indices of limb ``limbs[i]``,
    relative to the first PAF channel; skeletons of networks without PAFs (one-stage
    keypoint heads) leave it empty. Limbs listed in ``redundant`` only join keypoints
    already assigned to people (they never start a new person), as OpenPose does for the
    shoulder-ear links. ``coco17`` maps each keypoint to its COCO-17 index (-1: none).
    """

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf_channels: tuple[tuple[int, int], ...] = ()
    redundant: frozenset[int] = field(default_factory=frozenset)
    coco17: tuple[int, ...] = ()
    colors: tuple[Color, ...] = _PALETTE

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if self.paf_channels and len(self.paf_channels) != len(self.limbs):
            raise ValueError(f"skeleton {self.name!r}: {len(self.limbs)} limbs but "
                             f"{len(self.paf_channels)} PAF channel pairs")
        if any(not (0 <= a < k and 0 <= b < k) for a, b in self.limbs):
            raise ValueError(f"skeleton {self.name!r}: a limb names a keypoint outside 0..{k - 1}")
        channels = sorted(c for pair in self.paf_channels for c in pair)
        if self.paf_channels and channels != list(range(2 * len(self.limbs))):
            raise ValueError(f"skeleton {self.name!r}: PAF channels must be a permutation "
                             f"of 0..{2 * len(self.limbs) - 1}")
        if self.coco17 and len(self.coco17) != k:
            raise ValueError(f"skeleton {self.name!r}: coco17 needs {k} entries")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    def color(self, index: int) -> Color:
        """Draw colour (RGB) of keypoint or limb ``index``."""
        return self.colors[index % len(self.colors)]


COCO18 = Skeleton(
    name="coco18",
    keypoints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
        "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
        "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    limbs=(
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
        (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
    ),
    paf_channels=(
        (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
        (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19),
        (26, 27),
    ),
    redundant=frozenset({17, 18}),
    coco17=(0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3),
)

BODY25 = Skeleton(
    name="body25",
    keypoints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
        "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
        "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
        "right_heel",
    ),
    limbs=(
        (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
        (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (2, 17),
        (5, 18), (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
    ),
    paf_channels=(
        (0, 1), (14, 15), (22, 23), (16, 17), (18, 19), (24, 25), (26, 27), (6, 7), (2, 3),
        (4, 5), (8, 9), (10, 11), (12, 13), (30, 31), (32, 33), (36, 37), (34, 35), (38, 39),
        (20, 21), (28, 29), (40, 41), (42, 43), (44, 45), (46, 47), (48, 49), (50, 51),
    ),
    redundant=frozenset({18, 19}),
    coco17=(0, -1, 6, 8, 10, 5, 7, 9, -1, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3,
            -1, -1, -1, -1, -1, -1),
)

# COCO-17 (the COCO keypoint order; no PAFs: read by one-stage keypoint heads).
# A minimal definition (names, limbs of the COCO annotation skeleton, identity COCO map).
COCO17 = Skeleton(
    name="coco17",
    keypoints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
        "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    limbs=(
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    coco17=tuple(range(17)),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (COCO18, BODY25, COCO17)}


def get_skeleton(name: str) -> Skeleton:
    """The registered skeleton called ``name`` (case-insensitive)."""
    try:
        return SKELETONS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; known: {', '.join(SKELETONS)}") from None
