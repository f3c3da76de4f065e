"""Poses and skeletons: layouts, conversions between them, bottom-up PAF decoding."""

from streampose.pose.convert import can_convert, convert
from streampose.pose.decoder import DecoderThresholds, PafDecoder
from streampose.pose.poses import Poses
from streampose.pose.skeleton import BODY25, COCO17, COCO18, SKELETONS, Skeleton, get_skeleton

__all__ = ["BODY25", "COCO17", "COCO18", "SKELETONS", "DecoderThresholds", "PafDecoder",
           "Poses", "Skeleton", "can_convert", "convert", "get_skeleton"]
