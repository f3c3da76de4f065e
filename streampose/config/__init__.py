"""Configuration. TRANSITION: the flat PipelineConfig is still exported here while the
nested sections (:mod:`.sections`) are wired in."""

from streampose.config._old_flat import DEVICE_OPS, PipelineConfig

__all__ = ["DEVICE_OPS", "PipelineConfig"]
