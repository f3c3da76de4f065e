"""Preview sizes and the preview header codec."""

from __future__ import annotations

import pytest

from streampose.console.link import PREVIEW_CODEC, PreviewHeader, preview_size


@pytest.mark.parametrize(("size", "max_width", "expected"), [
    ((1920, 1080), 640, (640, 360)),
    ((320, 240), 640, (320, 240)),      # never scaled up
    ((101, 51), 640, (100, 50)),        # even sizes
    ((4000, 3), 640, (640, 2)),         # at least 2
])
def test_preview_size(size: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    assert preview_size(*size, max_width) == expected


def test_header_round_trip() -> None:
    buf = memoryview(bytearray(PREVIEW_CODEC.size + 3))
    header = PreviewHeader(frame=12345, wall=1.7e9, height=360, width=640)
    PREVIEW_CODEC.pack_into(buf, 3, header)
    assert PREVIEW_CODEC.unpack_from(buf, 3) == header
