"""What the infer stage needs to build its backend in its own process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streampose.backends.base import Backend
from streampose.models.spec import ModelSpec

__all__ = ["BackendRequest"]


@dataclass(frozen=True)
class BackendRequest:
    """A backend by name with its model and settings; :meth:`create` builds it (unopened)."""

    name: str
    spec: ModelSpec
    model_path: Path | None
    device: str = "cpu"
    threads: int | None = None
    options: dict[str, object] = field(default_factory=dict)

    def create(self) -> Backend:
        from streampose.backends import create_backend

        return create_backend(self.name, spec=self.spec, model_path=self.model_path,
                              device=self.device, threads=self.threads, **self.options)
