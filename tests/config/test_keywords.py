"""A PipelineConfig from Python keywords: the command line's flags as keyword names."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.config import BatchingConfig
from streampose.config.keywords import config_of, keyword_options
from streampose.errors import ConfigError


def test_keywords_are_the_flags_without_dashes() -> None:
    config = config_of("in.mp4", model="m.onnx", max_frames=50, json="o.jsonl",
                       tracking=False, backend="fake", duration=3)
    assert config.sources == ("in.mp4",) and config.model.path == Path("m.onnx")
    assert config.model.backend == "fake" and config.live.duration_s == 3
    assert config.outputs.json == Path("o.jsonl") and config.tracking.enabled is False
    assert config.performance.max_frames == 50


def test_a_section_by_name_with_keywords_on_top() -> None:
    config = config_of(["a.mp4", Path("b.mp4")], model=Path("m.onnx"),
                       batching=BatchingConfig(batch=4, max_wait_ms=5.0), max_wait_ms=7.0,
                       draw={"boxes": True})
    assert config.sources == ("a.mp4", "b.mp4")
    assert (config.batching.batch, config.batching.max_wait_ms) == (4, 7.0)
    assert config.draw.boxes is True


def test_the_smallest_person_is_a_keyword_in_pixels_or_a_share() -> None:
    assert config_of("in.mp4", model="m.onnx",
                     min_person_height="11%").model.min_person_height == "11%"
    assert config_of("in.mp4", model="m.onnx",
                     min_person_height=40).model.min_person_height == 40
    with pytest.raises(ConfigError, match=r"min_person_height: '0%' is outside"):
        config_of("in.mp4", model="m.onnx", min_person_height="0%")


def test_every_keyword_names_one_option() -> None:
    found = keyword_options()
    assert {"max_frames", "json", "tracking", "ids", "overwrite", "model"} <= set(found)
    assert all(name.isidentifier() for name in found)


def test_an_unknown_keyword_or_a_bad_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown option max_frame="):
        config_of("in.mp4", model="m.onnx", max_frame=3)
    with pytest.raises(ConfigError, match="--batch"):
        config_of("in.mp4", model="m.onnx", batch=0)
