"""The one interface every inference backend implements.

A backend is built cheaply (no model loaded) and can be sent to a worker process; the
model is loaded by :meth:`Backend.open` inside that process. ``close()`` always runs if
``open()`` succeeded (use the backend as a context manager), and is idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from streampose.errors import ConfigError, ModelError
from streampose.lifecycle import Resource
from streampose.models.spec import ModelSpec, OutputRef

__all__ = ["Backend", "split_outputs"]


class Backend(Resource, ABC):
    """Runs a pose network: a batch of prepared inputs in, heatmaps and PAFs out."""

    name: str = ""

    def __init__(
        self,
        *,
        spec: ModelSpec,
        model_path: Path | None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        bad = isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        if threads is not None and bad:
            raise ConfigError(f"{self.name} backend: threads = {threads!r} must be None or >= 1")
        self.spec = spec
        self.model_path = None if model_path is None else Path(model_path)
        self.device = device
        self.threads = threads

    @abstractmethod
    def open(self) -> None:
        """Load the model (in the process that will call :meth:`infer`)."""

    @abstractmethod
    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run ``batch`` (float32, the spec's input layout, ``(N, ...)``).

        Returns ``(heatmaps (N, K+1, h, w), pafs (N, 2L, h, w))``, float32, C-contiguous,
        NCHW whatever the model's own output layout.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the model; safe to call more than once, or without open()."""


    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(spec={self.spec.name!r}, model_path={self.model_path}, "
            f"device={self.device!r}, threads={self.threads})"
        )

    def _check_batch(self, batch: np.ndarray) -> None:
        channel_axis = 3 if self.spec.input_layout == "NHWC" else 1
        shape_ok = batch.ndim == 4 and batch.shape[0] > 0 and batch.shape[channel_axis] == 3
        if batch.dtype != np.float32 or not shape_ok:
            raise ValueError(
                f"{self.name} backend: expected a float32 {self.spec.input_layout} batch with "
                f"3 channels and N >= 1, got {batch.dtype} {batch.shape}"
            )


def split_outputs(
    outputs: Mapping[str, np.ndarray], spec: ModelSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Slice heatmaps and PAFs out of raw model outputs, as C-contiguous float32 NCHW."""
    return _channels(outputs, spec.heatmaps, spec), _channels(outputs, spec.pafs, spec)


def _channels(outputs: Mapping[str, np.ndarray], ref: OutputRef, spec: ModelSpec) -> np.ndarray:
    array = outputs[ref.output]
    axis = 3 if spec.output_layout == "NHWC" else 1
    if array.ndim != 4 or array.shape[axis] < ref.stop:
        raise ModelError(
            f"model output {ref.output!r} has shape {array.shape} ({spec.output_layout}); "
            f"spec {spec.name!r} reads channels [{ref.start}, {ref.stop})"
        )
    if spec.output_layout == "NHWC":
        array = array[..., ref.start : ref.stop].transpose(0, 3, 1, 2)
    else:
        array = array[:, ref.start : ref.stop]
    return np.ascontiguousarray(array, dtype=np.float32)
