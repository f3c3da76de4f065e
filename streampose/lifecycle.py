"""Objects with ``open()``/``close()`` that are also context managers."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_R = TypeVar("_R", bound="Resource")


class Resource:
    """``with obj:`` opens it and always closes it once ``open()`` has succeeded."""

    def open(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _R) -> _R:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
