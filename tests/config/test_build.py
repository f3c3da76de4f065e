"""streampose.config.build: layered values -> one PipelineConfig; the ``[head.<name>]``
tables merged per head (the sections' own merging is covered with the CLI in test_cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.config.build import build_config, merge_values
from streampose.config.sections import ModelConfig, PipelineConfig
from streampose.errors import ConfigError

BASE = {"sources": ["a.mp4"], "model": {"path": "m.onnx"}}


def test_head_tables_merge_key_by_key_per_head_later_layers_winning() -> None:
    merged = merge_values({"head": {"a": {"x": 1, "y": 2}, "b": {"z": 3}}},
                          {"head": {"a": {"y": 5}}})
    assert merged == {"head": {"a": {"x": 1, "y": 5}, "b": {"z": 3}}}


def test_head_tables_reach_the_config_and_default_to_none() -> None:
    assert build_config(BASE, {}).heads == {}
    config = build_config({**BASE, "head": {"toy": {"x": 1}}}, {})
    assert config.heads == {"toy": {"x": 1}}


def test_heads_must_be_tables_per_head() -> None:
    with pytest.raises(ConfigError, match=r"PipelineConfig\.heads: .* is not a \{head name"):
        PipelineConfig(sources=("a.mp4",), model=ModelConfig(path=Path("m.onnx")),
                       heads={"toy": 3})  # type: ignore[dict-item]
