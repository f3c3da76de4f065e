"""The streams' bounds: the largest frame each stream's buffers hold (--max-frame-size)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from streampose.planning.streams import bounded
from streampose.sources.base import SourceInfo
from streampose.sources.probe import LIVE_DEFAULT_SIZE, ProbedSource


def probed(size: tuple[int, int], *, live: bool = False, known: bool = True,
           names: tuple[str, ...] | None = None) -> ProbedSource:
    info = SourceInfo(uri="x", width=size[0], height=size[1], time_base=Fraction(1, 1000),
                      fps=None, frames=None, live=live)
    return ProbedSource(info, (size,), names, live=live, known=known)


@pytest.mark.parametrize(("size", "live", "configured", "bound"), [
    ((640, 360), False, None, (1920, 1080)),  # a file may grow to 1080p
    ((3840, 2160), False, None, (3840, 2160)),  # never below the probed size
    ((360, 640), False, None, (1080, 1920)),  # oriented as the source is
    ((1920, 1080), True, None, (3840, 2160)),  # a camera: up to 4K
    ((640, 480), True, (1280, 720), (1280, 720)),  # --max-frame-size
    ((2560, 1440), True, (1280, 720), (2560, 1440)),
])
def test_the_bound_of_a_probed_stream(size: tuple[int, int], live: bool,
                                      configured: tuple[int, int] | None,
                                      bound: tuple[int, int]) -> None:
    source = bounded(probed(size, live=live), configured)
    assert source.bound == source.slot_size == bound
    assert source.sizes == (size,) and source.planned_sizes == (size, bound)


def test_images_have_no_bound() -> None:
    source = probed((64, 48), names=("a.png",))
    assert bounded(source, None) is source and source.slot_size == (64, 48)


@pytest.mark.parametrize(("configured", "size"), [(None, (3840, 2160)), ((800, 600), (800, 600))])
def test_a_camera_down_at_start_is_planned_at_the_bound(
        configured: tuple[int, int] | None, size: tuple[int, int]) -> None:
    source = bounded(probed(LIVE_DEFAULT_SIZE, live=True, known=False), configured)
    assert source.bound == source.sizes[0] == (source.info.width, source.info.height) == size
    assert not source.known
