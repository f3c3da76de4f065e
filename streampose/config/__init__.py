"""Configuration: one frozen dataclass per TOML table (:mod:`.sections`), the command
line (:mod:`.arguments`) and pipeline files (:mod:`.toml`) generated from their fields
(:mod:`.fields`). See ARCHITECTURE.md (configuration).

The names are loaded lazily: ``streampose.pose.decoder`` builds its ``[decoder]``
section from :mod:`.fields` while :mod:`.sections` imports that section.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SECTIONS", "BatchingConfig", "DecoderThresholds", "DrawConfig", "LiveConfig",
           "ModelConfig", "OutputsConfig", "PerformanceConfig", "PipelineConfig",
           "TrackingConfig", "build_config"]


def __getattr__(name: str) -> Any:
    if name == "build_config":
        from streampose.config.build import build_config

        return build_config
    if name in __all__:
        from streampose.config import sections

        return getattr(sections, name)
    raise AttributeError(f"module 'streampose.config' has no attribute {name!r}")
