"""A head with its own threshold (tests/heads/toy_threshold_head.py) added with no other
edit: its ``[head.toy_floor]`` table in a pipeline file reaches the head in the postprocess
workers; the tables are checked by their heads; ``[decoder]``/``[keypoints]`` unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config.build import build_config
from streampose.config.sections import DecoderThresholds, KeypointThresholds
from streampose.config.toml import load_pipeline_file
from streampose.errors import ConfigError
from streampose.heads import head_settings, make_head
from streampose.models.spec import ModelSpec
from tests.heads.toy_threshold_head import Floor, FloorHead
from tests.support.media import make_video
from tests.support.models import MODEL_NAME

SHIPPED = Path(__file__).resolve().parents[2] / "streampose/models/specs/openpose-mnv2s-coco18.toml"


def pipeline_file(tmp_path: Path, clip: Path, tables: str, name: str = "run") -> Path:
    spec = tmp_path / "floor.toml"
    spec.write_text('head = "toy_floor"\n' + SHIPPED.read_text())
    path = tmp_path / f"{name}.toml"
    path.write_text(f'sources = ["{clip}"]\n[model]\npath = "{MODEL_NAME}"\nbackend = "fake"\n'
                    f'spec = "{spec}"\n[outputs]\njson = "{name}.jsonl"\n{tables}')
    return path


def config_of(path: Path, cli: dict | None = None) -> PipelineConfig:
    return build_config(load_pipeline_file(path), cli or {})


def test_the_head_gets_its_table_and_the_others_keep_theirs(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, tmp_path / "c.mp4",
                         "[decoder]\nmin_parts = 4\n[head.toy_floor]\nmin_score = 2.5\n")
    config = config_of(path)
    assert config.heads == {"toy_floor": {"min_score": 2.5}}
    spec = ModelSpec.from_toml(tmp_path / "floor.toml")
    head = make_head(spec, head_settings(spec, config))
    assert isinstance(head, FloorHead) and head.floor == Floor(min_score=2.5)
    assert head.thresholds == DecoderThresholds(min_parts=4)  # [decoder] as before
    assert head.settings.get("keypoints") == KeypointThresholds()


@pytest.mark.parametrize(("tables", "error"), [
    ("[head.toy_floor]\nmin_score = -1\n", r"\[head\.toy_floor\]\.min_score = -1: expected"),
    ("[head.toy_floor]\nfloor = 1\n", r"\[head\.toy_floor\]: unknown key 'floor'"),
    ("[head.paf]\npeak_threshold = 0.1\n", r"\[head\.paf\]: unknown key 'peak_threshold' "
                                           r"\(the 'paf' head takes no options here\)"),
    ("[head.nope]\nx = 1\n", r"\[head\.nope\]: no such head \(known: .*toy_floor"),
])
def test_every_head_table_is_checked_by_its_head(tmp_path: Path, tables: str,
                                                  error: str) -> None:
    config = config_of(pipeline_file(tmp_path, tmp_path / "c.mp4", tables))
    spec = ModelSpec.from_toml(tmp_path / "floor.toml")
    with pytest.raises(ConfigError, match=error):
        head_settings(spec, config)


def test_head_must_hold_tables(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('sources = ["a.mp4"]\nhead = 3\n')
    with pytest.raises(ConfigError, match=r"bad\.toml: \[head\]: must hold one table per head"):
        load_pipeline_file(path)


@pytest.mark.slow
def test_the_threshold_reaches_the_head_in_the_pipeline(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    clip = make_video(tmp_path / "clip.mp4", frames=6, size=(160, 96))
    runs = {}
    for name, floor in (("low", 0.0), ("high", 1e9)):
        path = pipeline_file(tmp_path, clip, f"[head.toy_floor]\nmin_score = {floor}\n", name)
        Pipeline(config_of(path)).run()
        lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        runs[name] = [len(json.loads(line)["persons"]) for line in lines]
    assert runs["low"] == [1] * 6  # the fake model's person, kept
    assert runs["high"] == [0] * 6  # under the head's own threshold: dropped
