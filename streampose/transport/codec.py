"""Header codecs: how a ring stores one item's small fixed-size header record.

The ring itself treats headers as opaque: it asks its codec for the record size and to
pack/unpack records at an offset of the segment. Stages define their message types and
codecs (:mod:`streampose.transport.messages`); a codec must be picklable (it travels to the
stage processes with the ring).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["HeaderCodec"]


class HeaderCodec(Protocol):
    """Packs one header object into ``size`` bytes and back."""

    @property
    def size(self) -> int:
        """Bytes of one record."""
        ...

    def pack_into(self, buf: memoryview, offset: int, header: Any) -> None:
        """Write ``header`` at ``buf[offset:offset + size]``."""
        ...

    def unpack_from(self, buf: memoryview, offset: int) -> Any:
        """Read the header stored at ``offset``."""
        ...
