"""Tiles through a whole run (stage processes, the fake backend): two streams whose
frames are each cut into 2 x 2 tiles, three postprocess workers; every frame comes out
once, in order, with the one person that several tiles saw, in frame pixels. With a
PAF spec (OKS merge) and a keypoint spec (box merge)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from streampose.config import ModelConfig, OutputsConfig, PerformanceConfig, PipelineConfig
from streampose.config.sections import TilesConfig
from streampose.errors import ConfigError
from streampose.pipeline import Pipeline
from tests.heads.test_keypoints_pipeline import TINY_SPEC
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments

W, H, FRAMES = 256, 128, 6


def square_video(path: Path) -> Path:
    """A dark 256x128 clip with a bright 8x8 square at y 40, moving right 8 px a frame
    (inside every tile of the runs below)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            image = np.full((H, W, 3), 20, np.uint8)
            image[40:48, 104 + 8 * i:112 + 8 * i] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def model(kind: str, tmp_path: Path) -> ModelConfig:
    """2 x 2 tiles of 192x96 frame pixels at scale 1 (tile offsets x 0, 64 and y 0, 32)."""
    if kind == "paf":
        return ModelConfig(path=MODEL_NAME, backend="fake", height=H)
    spec = tmp_path / "tiny-pose.toml"
    spec.write_text(TINY_SPEC)
    return ModelConfig(path=tmp_path / "tiny-pose.onnx", spec=spec, backend="fake", height=W)


@pytest.mark.parametrize("kind", ["paf", "keypoints"])
def test_tiles_give_one_person_per_frame_in_frame_pixels(tmp_path: Path, kind: str) -> None:
    clip = square_video(tmp_path / "clip.mp4")
    jsonl = tmp_path / "out.jsonl"
    config = PipelineConfig(
        sources=(str(clip), str(clip)), model=model(kind, tmp_path),
        tiles=TilesConfig(mode="auto", overlap=32, size=96 if kind == "paf" else 192),
        outputs=OutputsConfig(json=jsonl), performance=PerformanceConfig(postprocess_workers=3))
    pipeline = Pipeline(config)
    assert pipeline.plan.work.count(W, H) == 4
    summary = pipeline.run()
    for counts in summary.streams:  # 2 x 2 tiles: 4 items per inferred frame
        assert (counts["frames_inferred"], counts["work_items"], counts["frames_skipped"],
                counts["items_per_frame"]) == (FRAMES, 4 * FRAMES, 0, 4.0)
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for stream in (0, 1):
        mine = [r for r in records if r["stream"] == stream]
        assert [r["frame"] for r in mine] == list(range(FRAMES))
        assert [len(r["persons"]) for r in mine] == [1] * FRAMES
        for r in mine:
            kp = np.array(r["persons"][0]["keypoints"], np.float32)
            found = kp[kp[:, 2] > 0]
            assert (found[:, 0] >= 0).all() and (found[:, 0] < W).all()
            assert (found[:, 1] >= 0).all() and (found[:, 1] < H).all()
            square_x = 107.5 + 8 * r["frame"]
            assert abs(float(np.median(found[:, 0])) - square_x) < 5
    assert not shm_segments()


def test_tiles_are_letterboxed_on_the_host(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    clip = square_video(tmp_path / "clip.mp4")
    config = PipelineConfig(sources=(str(clip),),
                            model=ModelConfig(path=MODEL_NAME, backend="fake", device_ops="on"),
                            tiles=TilesConfig(mode="auto"))
    with pytest.raises(ConfigError, match="--tiles auto: tiles are letterboxed on the host"):
        Pipeline(config)
