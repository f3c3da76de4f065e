"""A new source kind added from outside the package (tests/sources/toy_source.py) through the
source-kind registry alone (``SOURCES.registered``): made, opened, probed and run by the
pipeline, with no other edit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config import ModelConfig, OutputsConfig
from streampose.errors import SourceError
from streampose.sources import VideoFileSource, create_source, open_source, probe_source
from streampose.sources.factory import SOURCES
from tests.sources.toy_source import TOY, ToySource
from tests.support.media import H, W, pattern
from tests.support.models import MODEL_NAME


def test_a_registered_kind_makes_its_source_and_is_removed_afterwards() -> None:
    with SOURCES.registered(TOY):
        assert isinstance(create_source("toy://3"), ToySource)
        assert isinstance(create_source("clip.mp4"), VideoFileSource)  # the others unchanged
    assert isinstance(create_source("toy://3"), VideoFileSource)  # the registration is undone
    assert all(kind.name != "toy" for kind in SOURCES)


def test_a_registered_kind_opens_and_yields_its_frames() -> None:
    with SOURCES.registered(TOY):
        source = open_source("toy://4")
    assert (source.info.width, source.info.height, source.info.frames) == (W, H, 4)
    frames = list(source.frames())
    source.close()
    assert [f.pts for f in frames] == [0, 1, 2, 3]
    assert np.array_equal(frames[2].image, pattern(2))


def test_a_registered_kind_is_probed_like_the_built_in_ones() -> None:
    with SOURCES.registered(TOY):
        probed = probe_source("toy://5")
        with pytest.raises(SourceError, match=r"toy://x: expected toy://N"):
            probe_source("toy://x")  # not live: an error is not retried
    assert probed.sizes == ((W, H),) and not probed.live and probed.names is None


@pytest.mark.slow
def test_the_pipeline_runs_a_registered_kind(tmp_path: Path) -> None:
    out = tmp_path / "poses.jsonl"
    cfg = PipelineConfig(sources=("toy://6",), model=ModelConfig(path=MODEL_NAME, backend="fake"),
                         outputs=OutputsConfig(json=str(out)))
    with SOURCES.registered(TOY):
        Pipeline(cfg).run()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(6))
