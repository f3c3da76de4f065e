"""The annotators for the pipeline's draw options, in the order that matters."""

from __future__ import annotations

from streampose.render.annotator import Annotator
from streampose.render.boxes import BoxAnnotator
from streampose.render.face_blur import FaceBlurAnnotator
from streampose.render.labels import LabelAnnotator
from streampose.render.skeleton import SkeletonAnnotator

__all__ = ["build_annotators"]


def build_annotators(*, skeleton: bool = True, boxes: bool = False, ids: bool = False,
                     blur_faces: bool = False, min_confidence: float = 0.0,
                     thickness: int | None = None, min_score: float = 0.0,
                     min_keypoints: int = 0) -> list[Annotator]:
    """The annotators for the given options, in drawing order.

    Faces are blurred first (with every present keypoint and person, whatever
    ``min_confidence``, ``min_score`` and ``min_keypoints``: privacy), then skeletons,
    boxes and id labels are drawn on top, of the people scoring at least ``min_score``
    with at least ``min_keypoints`` keypoints above ``min_confidence``.
    """
    chain: list[Annotator] = []
    if blur_faces:
        chain.append(FaceBlurAnnotator())
    if skeleton:
        chain.append(SkeletonAnnotator(min_confidence=min_confidence, thickness=thickness,
                                       min_score=min_score, min_keypoints=min_keypoints))
    if boxes:
        chain.append(BoxAnnotator(min_confidence=min_confidence, thickness=thickness,
                                  min_score=min_score, min_keypoints=min_keypoints))
    if ids:
        chain.append(LabelAnnotator(min_confidence=min_confidence, min_score=min_score,
                                    min_keypoints=min_keypoints))
    return chain
