"""``streampose eval`` of a real model on ../shared's coco4 at its default size, run once
per test session (per xdist worker) for every test that reads its outcome (the
``coco4_eval`` fixture of tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import run_cli
from tests.support.shared import shared_file


@dataclass(frozen=True)
class Coco4Eval:
    """What one ``streampose eval`` run left: the process and its ``--json`` metrics
    (None when it failed)."""

    result: subprocess.CompletedProcess[str]
    metrics: dict[str, Any] | None


def run_coco4_eval(model: str, folder: Path) -> Coco4Eval:
    """``streampose eval coco4 ANN --model ../shared/models/MODEL --json folder/...``."""
    ann = shared_file("eval/coco4/test_coco.json")
    out = folder / "metrics.json"
    result = run_cli("eval", str(ann.parent), str(ann), "--model",
                     str(shared_file(f"models/{model}")), "--json", str(out), timeout=600)
    return Coco4Eval(result, json.loads(out.read_text()) if result.returncode == 0 else None)


def cached_coco4_eval(make_folder: Callable[[], Path]) -> Callable[[str], Coco4Eval]:
    """``run(model)``: :func:`run_coco4_eval` once per model, in a folder from
    ``make_folder``; later calls give the same outcome."""
    done: dict[str, Coco4Eval] = {}

    def run(model: str) -> Coco4Eval:
        if model not in done:
            done[model] = run_coco4_eval(model, make_folder())
        return done[model]

    return run
