"""The head registry: a spec names its head; a head registered elsewhere is loaded like a
built-in one and runs through the whole pipeline with nothing else changed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import streampose.heads as heads
from streampose import Pipeline, PipelineConfig
from streampose.config import ModelConfig, OutputsConfig
from streampose.errors import ModelError
from streampose.heads import head_class, head_names, make_head, register_head
from streampose.heads.paf import PafHead, PafOutputs
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import plan_letterbox
from tests.heads.toy_head import SHIFT, ToyHead
from tests.support.media import make_video
from tests.support.models import MODEL_NAME, valid_spec_dict
from tests.support.shm import shm_segments

SHIPPED = Path(__file__).resolve().parents[2] / "streampose/models/specs/openpose-mnv2s-coco18.toml"


def test_unknown_head_names_the_file_and_the_field() -> None:
    with pytest.raises(ModelError, match=r"my\.toml: invalid head = 'nope' \(allowed: .*paf"):
        ModelSpec.from_dict({**valid_spec_dict(), "head": "nope"}, source="my.toml")
    with pytest.raises(ModelError, match=r"x\.toml: invalid head = 'nope'"):
        head_class("nope", source="x.toml")
    with pytest.raises(ModelError, match=r"my\.toml: invalid head = ''"):
        ModelSpec.from_dict({**valid_spec_dict(), "head": ""}, source="my.toml")


def test_paf_is_the_default_head() -> None:
    spec = ModelSpec.from_dict(valid_spec_dict())
    assert spec.head == "paf" and head_class("paf") is PafHead
    assert ModelSpec.from_dict({**valid_spec_dict(), "head": "paf"}) == spec
    assert {"paf", "toy"} <= set(head_names())


def test_register_head_makes_its_specs_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heads, "_REGISTERED", dict(heads._REGISTERED))  # undone afterwards

    class Other(PafHead):
        name = "other"

    d = {**valid_spec_dict(), "head": "other"}
    with pytest.raises(ModelError, match="invalid head = 'other'"):
        ModelSpec.from_dict(d, source="s.toml")
    assert register_head(Other) is Other
    spec = ModelSpec.from_dict(d, source="s.toml")
    assert spec.head == "other" and isinstance(spec.head_options, PafOutputs)
    assert "other" in head_names() and type(make_head(spec)) is Other
    with pytest.raises(ModelError, match=r"s\.toml: missing key\(s\) 'pafs'"):
        ModelSpec.from_dict({k: v for k, v in d.items() if k != "pafs"}, source="s.toml")

    class Nameless(PafHead):
        name = ""

    with pytest.raises(ValueError, match="non-empty name"):
        register_head(Nameless)


def test_the_toy_head_registers_on_import(tmp_path: Path) -> None:
    spec_path = tmp_path / "toy.toml"
    spec_path.write_text('head = "toy"\n' + SHIPPED.read_text())
    spec = ModelSpec.from_toml(spec_path)
    assert head_class("toy") is ToyHead and spec.head == "toy"
    assert type(make_head(spec)) is ToyHead


# -- ARCHITECTURE CHECK ---------------------------------------------------------------------
#
# The premise of the head seam: a new head is one class (tests/heads/toy_head.py) plus the
# `head` key of its spec. To run it end to end below, no file in streampose/backends,
# streampose/transport, streampose/render, streampose/pose/tracking.py or
# streampose/outputs was touched or needed: the fake backend returns its named outputs, the
# rings carry the head's payloads, postprocess maps the head's network-input poses to the
# frame, and tracking, rendering and the sinks see only Poses.


def run_fake(tmp_path: Path, clip: Path, name: str, spec: Path | None) -> list[dict]:
    config = PipelineConfig(
        sources=(str(clip),), model=ModelConfig(path=MODEL_NAME, backend="fake", spec=spec),
        outputs=OutputsConfig(json=tmp_path / f"{name}.jsonl"))
    Pipeline(config).run()
    return [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()]


def test_a_registered_head_runs_through_the_whole_pipeline(tmp_path: Path) -> None:
    """The stages are spawned processes: they unpickle the ToyHead, which imports (and so
    registers) tests.heads.toy_head there too."""
    size = (160, 96)
    clip = make_video(tmp_path / "clip.mp4", frames=8, size=size)
    toy_spec = tmp_path / "toy.toml"
    toy_spec.write_text('head = "toy"\n' + SHIPPED.read_text())
    paf = run_fake(tmp_path, clip, "paf", None)  # the built-in spec: the PAF head
    toy = run_fake(tmp_path, clip, "toy", toy_spec)
    assert [x["frame"] for x in toy] == [x["frame"] for x in paf] == list(range(8))
    lb = plan_letterbox(src_w=size[0], src_h=size[1], height=368, stride=8)
    shift = np.array([SHIFT / lb.scale_x, SHIFT / lb.scale_y])  # frame pixels
    assert shift[0] > 0.1  # visible at 2 decimals
    compared = 0
    for a, b in zip(paf, toy, strict=True):
        assert len(a["persons"]) == len(b["persons"])
        for p, q in zip(a["persons"], b["persons"], strict=True):
            before, after = np.array(p["keypoints"]), np.array(q["keypoints"])
            np.testing.assert_array_equal(after[:, 2], before[:, 2])
            inside = (before[:, 2] > 0) & np.all(after[:, :2] < np.array(size) - 1, axis=1)
            inside &= np.all(before[:, :2] > 0, axis=1)  # not clamped to the frame's edge
            np.testing.assert_allclose(after[inside, :2] - before[inside, :2],
                                       np.broadcast_to(shift, (int(inside.sum()), 2)),
                                       atol=0.011)  # the JSON keeps 2 decimals
            compared += int(inside.sum())
    assert compared >= 8 * 10  # a person in every frame, 10+ keypoints unclamped in each
    assert shm_segments() == []
