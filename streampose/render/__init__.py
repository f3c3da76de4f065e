"""streampose.render: annotators that draw poses on frames, in place (see ARCHITECTURE.md).

Each annotator is a small class with one ``annotate(scene, poses)`` method
(:class:`~streampose.render.annotator.Annotator`); the scene is a BGR ``uint8`` frame.
:func:`build_annotators` composes them in the order that matters: faces are blurred
first (so no drawing is blurred away), then skeletons, boxes, and track-id labels on top.
"""

from __future__ import annotations

from streampose.render.annotator import Annotator
from streampose.render.boxes import BoxAnnotator, person_boxes
from streampose.render.chain import build_annotators
from streampose.render.colors import NEUTRAL_COLOR, id_color
from streampose.render.face_blur import FaceBlurAnnotator
from streampose.render.labels import LabelAnnotator
from streampose.render.skeleton import SkeletonAnnotator

__all__ = [
    "NEUTRAL_COLOR",
    "Annotator",
    "BoxAnnotator",
    "FaceBlurAnnotator",
    "LabelAnnotator",
    "SkeletonAnnotator",
    "build_annotators",
    "id_color",
    "person_boxes",
]
