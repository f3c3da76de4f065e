"""COCO keypoint evaluation: the pipeline over an image set, scored by pycocotools.

    from streampose.evaluate import evaluate
    metrics = evaluate(config, Path("person_keypoints_val2017.json"))  # config.sources: images
    print(metrics.ap)

:func:`evaluate` checks the annotation file (:func:`check_keypoints`), runs the same
pipeline as ``streampose run --coco`` to a temporary results file with image ids taken
from the annotation file by file name (``[outputs].coco_ids``, so datasets that number
their images independently of the file names work), and scores it with pycocotools'
``COCOeval`` (``iouType="keypoints"``) over the images that were run. pycocotools is the
optional ``eval`` extra, imported only here.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from streampose.config.sections import OutputsConfig, PipelineConfig
from streampose.errors import ConfigError, StreamposeError
from streampose.observe.summary import Progress
from streampose.outputs.coco_ids import image_ids, read_annotations
from streampose.pipeline import Pipeline

__all__ = ["KEYPOINT_SETS", "METRICS", "CocoMetrics", "EvaluationInterrupted",
           "check_keypoints", "evaluate", "evaluation_config", "score"]

log = logging.getLogger(__name__)

INSTALL = 'pip install -e ".[eval]"'

# Keypoint counts of annotation files whose keypoints the COCO-17 results map onto
# (an entry per known mapping; only the identity one so far).
KEYPOINT_SETS: dict[int, str] = {17: "COCO-17 (COCO, OCHuman)"}

# The metrics reported, and their places in COCOeval.stats for iouType "keypoints".
METRICS: dict[str, int] = {"AP": 0, "AP50": 1, "AP75": 2, "APm": 3, "APl": 4, "AR": 5}

_PERSON = 1  # the category_id of every result (streampose.pose.coco.to_coco_results)


@dataclass(frozen=True, kw_only=True)
class CocoMetrics:
    """COCO keypoint metrics of one evaluation, as pycocotools reports them (OKS-based
    AP over IoU thresholds .50:.95; -1 where the annotations have no person of that size).

    ``images``: images evaluated; ``detections``: results scored.
    """

    AP: float
    AP50: float
    AP75: float
    APm: float
    APl: float
    AR: float
    images: int
    detections: int

    @classmethod
    def zero(cls, *, images: int) -> CocoMetrics:
        """The metrics of a run that detected no one."""
        return cls(**dict.fromkeys(METRICS, 0.0), images=images, detections=0)

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def lines(self) -> list[str]:
        """One ``NAME VALUE`` line per metric, in :data:`METRICS` order."""
        return [f"{name:<5} {getattr(self, name):.4f}" for name in METRICS]


class EvaluationInterrupted(StreamposeError):
    """The run was stopped by a signal before every image was scored."""

    def __init__(self, signal: int) -> None:
        super().__init__(f"evaluation interrupted by signal {signal}: no metrics")
        self.exit_code = 128 + signal


def evaluate(config: PipelineConfig, annotations: Path, *,
             on_progress: Callable[[Progress], None] | None = None) -> CocoMetrics:
    """COCO keypoint metrics of ``config``'s model on its image sources, against the
    annotation file ``annotations``; config's outputs and tracking are not used."""
    _pycocotools()
    data = read_annotations(annotations)
    check_keypoints(data, annotations)
    ids = image_ids(data, annotations)
    with tempfile.TemporaryDirectory(prefix="streampose-eval-") as tmp:
        results = Path(tmp) / "results.json"
        pipeline = Pipeline(evaluation_config(config, annotations, results))
        evaluated = _evaluated_ids(pipeline, ids)
        summary = pipeline.run(on_progress=on_progress)
        if summary.signal is not None:
            raise EvaluationInterrupted(summary.signal)
        log.info("%d images in %.1f s (%.1f fps)", summary.frames_out, summary.wall_s,
                 summary.fps)
        if len(evaluated) < len(ids):
            log.warning("evaluating %d of the %d images in %s", len(evaluated), len(ids),
                        annotations)
        return score(data, json.loads(results.read_text(encoding="utf-8")), evaluated)


def evaluation_config(config: PipelineConfig, annotations: Path,
                      results: Path) -> PipelineConfig:
    """``config`` writing only COCO results to ``results``, with image ids from
    ``annotations``, and no tracking (the images are unrelated)."""
    return replace(config, outputs=OutputsConfig(coco=results, coco_ids=annotations),
                   tracking=replace(config.tracking, enabled=False))


def check_keypoints(data: Mapping[str, Any], path: Path) -> None:
    """ConfigError unless annotation ``data`` (from ``path``) is a COCO keypoints file
    whose person category has a keypoint set in :data:`KEYPOINT_SETS`."""
    categories = data.get("categories")
    listed = [c for c in categories if isinstance(c, dict) and isinstance(c.get("keypoints"),
                                                                          list)] \
        if isinstance(categories, list) else []
    if not listed:
        raise ConfigError(f"annotation file {path}: no category lists keypoints; not a COCO "
                          "keypoints annotation file")
    person = next((c for c in listed if c.get("id") == _PERSON), listed[0])
    count = len(person["keypoints"])
    if count not in KEYPOINT_SETS:
        known = ", ".join(f"{n} ({name})" for n, name in KEYPOINT_SETS.items())
        raise ConfigError(f"annotation file {path}: category {person.get('name')!r} has "
                          f"{count} keypoints, and no mapping of streampose's COCO-17 "
                          f"results to {count} keypoints is known (known: {known})")
    if person.get("id") != _PERSON:
        raise ConfigError(f"annotation file {path}: the keypoint category "
                          f"{person.get('name')!r} has id {person.get('id')!r}; results "
                          f"use category_id {_PERSON}")


def score(data: Mapping[str, Any], results: list[dict[str, Any]],
          evaluated: list[int]) -> CocoMetrics:
    """pycocotools' keypoint metrics of ``results`` against annotation ``data``, over
    the images ``evaluated``; no results give zeros (and a warning), not an error."""
    coco, cocoeval = _pycocotools()
    if not results:
        log.warning("no person detected in %d images: every metric is 0", len(evaluated))
        return CocoMetrics.zero(images=len(evaluated))
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        truth = coco.COCO()
        truth.dataset = dict(data)
        truth.createIndex()
        evaluation = cocoeval.COCOeval(truth, truth.loadRes(results), "keypoints")
        evaluation.params.imgIds = sorted(evaluated)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    log.debug("pycocotools:\n%s", report.getvalue())
    stats = evaluation.stats
    return CocoMetrics(**{name: float(stats[i]) for name, i in METRICS.items()},
                       images=len(evaluated), detections=len(results))


def _evaluated_ids(pipeline: Pipeline, ids: Mapping[str, int]) -> list[int]:
    """The annotation ids of the images the pipeline will run (``max_frames`` applied);
    the pipeline checked every name is there."""
    limit = pipeline.config.performance.max_frames
    names = [name for source in pipeline.plan.sources
             for name in (source.names or ())[:limit]]
    return sorted({ids[name] for name in names})


def _pycocotools() -> tuple[Any, Any]:
    """The modules ``pycocotools.coco`` and ``pycocotools.cocoeval``, imported now;
    ConfigError with the install command when missing."""
    try:
        from pycocotools import coco, cocoeval
    except ImportError as exc:
        raise ConfigError(f"eval needs pycocotools{_missing_part(exc)}: {INSTALL}") from None
    return coco, cocoeval


def _missing_part(exc: ImportError) -> str:
    """What pycocotools lacks, when the module missing is not pycocotools itself:
    ``, which needs numpy`` (the module's name once, never ``pycocotools (pycocotools)``)."""
    name = exc.name or ""
    if name.split(".")[0] == "pycocotools":
        return ""
    return f", which needs {name}" if name else f" ({exc})"
