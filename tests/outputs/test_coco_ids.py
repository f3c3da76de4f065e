"""COCO image ids by file name (``--coco-ids ANN.json``): loading, checks, the sink, a run."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from streampose.config.sections import ModelConfig, OutputsConfig, PipelineConfig
from streampose.errors import ConfigError, OutputError
from streampose.outputs.base import FrameMeta
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.coco_ids import check_names, load_image_ids
from streampose.outputs.factory import StreamFacts
from streampose.outputs.registry import check_outputs
from streampose.pose import COCO18, Poses
from tests.support.cli import run_cli
from tests.support.models import MODEL_NAME


def write_annotations(path: Path, images: dict[str, int]) -> Path:
    """A minimal COCO keypoints annotation file listing ``{file_name: id}``."""
    path.write_text(json.dumps({
        "images": [{"id": i, "file_name": name, "width": 96, "height": 64}
                   for name, i in images.items()],
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)],
                        "skeleton": []}]}))
    return path


def image_facts(*names: str) -> StreamFacts:
    return StreamFacts(width=96, height=64, time_base=Fraction(1, 25), stem="imgs",
                       images=True, names=names)


def test_ids_by_base_file_name(tmp_path: Path) -> None:
    ann = write_annotations(tmp_path / "ann.json", {"val/a.jpg": 7, "b.jpg": 3})
    assert load_image_ids(ann) == {"a.jpg": 7, "b.jpg": 3}


@pytest.mark.parametrize(("content", "message"), [
    (None, "not found"), ("{", "not valid JSON"), ("[]", "'images' list"),
    ('{"images": [{"id": 1}]}', "no file_name"),
    ('{"images": [{"id": "1", "file_name": "a.jpg"}]}', "not an integer"),
    ('{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "x/a.jpg"}]}',
     "two ids"),
])
def test_bad_annotation_file_is_named(tmp_path: Path, content: str | None,
                                      message: str) -> None:
    ann = tmp_path / "ann.json"
    if content is not None:
        ann.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_image_ids(ann)
    assert str(ann) in str(info.value)


def test_missing_names_are_listed() -> None:
    with pytest.raises(ConfigError, match=r"2 image\(s\).*c.jpg, d.jpg"):
        check_names({"a.jpg": 1}, ["a.jpg", "c.jpg", "d.jpg"], Path("ann.json"))


def test_coco_ids_need_coco_results(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--coco OUT\.json"):
        OutputsConfig(coco_ids=tmp_path / "ann.json")


def test_check_outputs_refuses_unlisted_images_and_videos(tmp_path: Path) -> None:
    ann = write_annotations(tmp_path / "ann.json", {"a.jpg": 7})
    outputs = PipelineConfig(sources=("a.jpg",), model=ModelConfig(path=Path("m.onnx")),
                             outputs=OutputsConfig(coco=tmp_path / "res.json", coco_ids=ann))
    check_outputs(outputs, [image_facts("a.jpg")])
    with pytest.raises(ConfigError, match=r"b\.jpg"):
        check_outputs(outputs, [image_facts("a.jpg", "b.jpg")])
    video = StreamFacts(width=96, height=64, time_base=Fraction(1, 25), stem="clip")
    with pytest.raises(ConfigError, match="not images"):
        check_outputs(outputs, [video])


def test_sink_writes_the_annotation_ids(tmp_path: Path) -> None:
    out = tmp_path / "res.json"
    sink = CocoResultsSink(path=out, ids={"a.jpg": 7})
    person = np.zeros((1, 18, 3), np.float32)
    person[0, 0] = (10, 20, 0.9)
    poses = Poses(person, np.array([0.5], np.float32), COCO18)
    sink.open()
    try:
        sink.write(_meta("a.jpg", frame=0), poses, None)
        with pytest.raises(OutputError, match=r"'b\.jpg'"):
            sink.write(_meta("b.jpg", frame=1), poses, None)
    finally:
        sink.close()
    assert [r["image_id"] for r in json.loads(out.read_text())] == [7]


def test_run_with_coco_ids(tmp_path: Path) -> None:
    """``run --coco --coco-ids``: ids follow the annotation file, not the file names."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("000000000001.jpg", "b.jpg"):
        image = np.full((64, 96, 3), 15, np.uint8)
        cv2.circle(image, (48, 21), 4, (255, 255, 255), -1)
        cv2.imwrite(str(folder / name), image)
    ann = write_annotations(tmp_path / "ann.json", {"000000000001.jpg": 501, "b.jpg": 502})
    out = tmp_path / "res.json"
    result = run_cli("run", str(folder), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--coco", str(out), "--coco-ids", str(ann))
    assert result.returncode == 0, result.stderr
    assert {r["image_id"] for r in json.loads(out.read_text())} == {501, 502}
    write_annotations(ann, {"b.jpg": 502})
    result = run_cli("run", str(folder), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--coco", str(out), "--coco-ids", str(ann))
    assert result.returncode == 2 and "000000000001.jpg" in result.stderr


def _meta(name: str, *, frame: int) -> FrameMeta:
    return FrameMeta(stream=0, frame=frame, pts=frame, pts_s=float(frame), wall=0.0,
                     image_id=frame, name=name)
