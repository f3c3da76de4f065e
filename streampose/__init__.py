"""streampose: real-time multi-person pose estimation on video streams."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["FrameResult", "Pipeline", "PipelineConfig", "Stream", "Summary", "__version__", "run",
           "stream"]


def __getattr__(name: str) -> object:
    # Lazy, so `import streampose.pose` stays light (no PyAV, no ONNX Runtime).
    if name in ("Pipeline", "Summary", "run"):
        from streampose import pipeline

        return getattr(pipeline, name)
    if name in ("FrameResult", "Stream", "stream"):
        from streampose import streaming

        return getattr(streaming, name)
    if name == "PipelineConfig":
        from streampose.config import PipelineConfig

        return PipelineConfig
    raise AttributeError(f"module 'streampose' has no attribute {name!r}")
