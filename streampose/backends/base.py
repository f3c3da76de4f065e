"""The one interface every inference backend implements.

A backend is built cheaply (no model loaded) and can be sent to a worker process; the
model is loaded by :meth:`Backend.open` inside that process. ``close()`` always runs if
``open()`` succeeded (use the backend as a context manager), and is idempotent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from streampose.errors import ConfigError
from streampose.heads.base import Shape
from streampose.lifecycle import Resource
from streampose.models.spec import ModelSpec

__all__ = ["Backend", "join_chunks"]


class Backend(Resource, ABC):
    """Runs a pose network: a batch of prepared inputs in, its named outputs out."""

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
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run ``batch`` (float32, the spec's input layout, ``(N, ...)``).

        Returns the model's outputs by name, as the model gives them (its head, see
        :mod:`streampose.heads`, knows what they mean). A model whose spec sets
        ``max_batch`` runs in chunks; the outputs are then joined along the batch axis.
        """

    @abstractmethod
    def output_shapes(self) -> dict[str, Shape]:
        """The model's outputs and their declared shapes (after :meth:`open`)."""

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


def join_chunks(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Outputs of consecutive chunks of one batch, joined along the batch axis."""
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
