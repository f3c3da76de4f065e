"""Bottom-up pose decoding: skeletons, peaks, PAF scoring, greedy grouping, Poses."""

from streampose.pose.decoder import DecoderThresholds, PafDecoder
from streampose.pose.poses import Poses
from streampose.pose.skeleton import BODY25, COCO18, SKELETONS, Skeleton, get_skeleton

__all__ = ["BODY25", "COCO18", "SKELETONS", "DecoderThresholds", "PafDecoder", "Poses",
           "Skeleton", "get_skeleton"]
