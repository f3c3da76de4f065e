"""Configuration: one frozen dataclass per TOML table (:mod:`.sections`), the command
line (:mod:`.arguments`) and pipeline files (:mod:`.toml`) generated from their fields
(:mod:`.fields`). See ARCHITECTURE.md (configuration)."""

from __future__ import annotations

from streampose.config.build import build_config
from streampose.config.sections import (
    SECTIONS,
    BatchingConfig,
    DecoderThresholds,
    DrawConfig,
    KeypointThresholds,
    LiveConfig,
    ModelConfig,
    MotionConfig,
    OutputsConfig,
    PerformanceConfig,
    PipelineConfig,
    ThreadsConfig,
    TilesConfig,
    TrackingConfig,
)

__all__ = ["SECTIONS", "BatchingConfig", "DecoderThresholds", "DrawConfig",
           "KeypointThresholds", "LiveConfig", "ModelConfig", "MotionConfig", "OutputsConfig",
           "PerformanceConfig", "PipelineConfig", "ThreadsConfig", "TilesConfig",
           "TrackingConfig",
           "build_config"]
