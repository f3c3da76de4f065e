"""Where to look in a frame: motion regions and the crops a frame's inference covers."""

from streampose.regions.motion import (
    MotionDetector,
    MotionSettings,
    RegionCounts,
    RegionPlan,
    RegionPlanner,
)

__all__ = ["MotionDetector", "MotionSettings", "RegionCounts", "RegionPlan", "RegionPlanner"]
