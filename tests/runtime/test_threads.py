"""The thread plan: a pure function of the cores, the stage layout and the overrides."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from streampose.runtime.threads import (
    MAX_HOST_THREADS,
    ThreadBudget,
    ThreadSettings,
    available_cores,
    plan_threads,
)

ONE_EACH = {"decode": 1, "preprocess": 1, "infer": 1, "postprocess": 1, "render": 1}


def test_two_cores_one_stream_gives_every_host_stage_one_thread() -> None:
    plan = plan_threads(2, ONE_EACH)
    for kind in ("decode", "preprocess", "postprocess", "render"):
        assert plan.budget(kind).opencv == 1, kind
    assert plan.budget("decode").decode == 1 and plan.budget("render").encoder == 1
    infer = plan.budget("infer")
    assert (infer.intra_op, infer.inter_op, infer.opencv) == (2, 1, 1)


def test_inference_workers_split_the_cores() -> None:
    layout = {**ONE_EACH, "infer": 2}
    assert plan_threads(2, layout).budget("infer").intra_op == 1
    assert plan_threads(8, layout).budget("infer").intra_op == 4
    assert plan_threads(3, {**ONE_EACH, "infer": 4}).budget("infer").intra_op == 1


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 8, 16, 64, 256])
@pytest.mark.parametrize("streams", [1, 2, 16])
@pytest.mark.parametrize("infer", [1, 2, 4])
def test_no_process_has_more_threads_than_cores(cores: int, streams: int, infer: int) -> None:
    layout = {"decode": streams, "preprocess": 1, "infer": infer, "postprocess": 2,
              "render": 1}
    plan = plan_threads(cores, layout, streams=streams)
    for kind in layout:
        budget = plan.budget(kind)
        values = [v for v in (budget.opencv, budget.intra_op, budget.decode, budget.encoder)
                  if v is not None]
        assert values and all(1 <= v <= cores for v in values), (kind, budget)


def test_a_big_machine_gives_host_stages_a_capped_share() -> None:
    plan = plan_threads(64, ONE_EACH, cpu_inference=False)
    assert plan.budget("decode").decode == MAX_HOST_THREADS
    assert plan.budget("infer").intra_op == 1  # an accelerator runs the model
    twelve = plan_threads(12, ONE_EACH, cpu_inference=False)  # 12 cores / 4 host processes
    assert twelve.budget("preprocess").opencv == 3


def test_many_streams_per_render_process_share_its_encoder_threads() -> None:
    layout = {"decode": 2, "preprocess": 1, "infer": 1, "postprocess": 1, "render": 1}
    assert plan_threads(24, layout, cpu_inference=False, streams=2).budget(
        "render").encoder == 2  # 24 // 5 processes = 4 threads, for 2 streams
    sharded = {**layout, "render": 2}
    assert plan_threads(24, sharded, cpu_inference=False, streams=2).budget(
        "render").encoder == 4  # 24 // 6 = 4 threads, one stream each
    assert plan_threads(2, layout, streams=2).budget("render").encoder == 1


def test_overrides_replace_the_computed_values_where_they_apply() -> None:
    settings = ThreadSettings(intra_op=3, inter_op=2, opencv=5, decode=0, encoder=6)
    plan = plan_threads(2, ONE_EACH, settings)
    assert plan.budget("infer") == ThreadBudget("infer", opencv=5, intra_op=3, inter_op=2)
    assert plan.budget("decode") == ThreadBudget("decode", opencv=5, decode=0)
    assert plan.budget("render") == ThreadBudget("render", opencv=5, encoder=6)
    assert plan.budget("preprocess") == ThreadBudget("preprocess", opencv=5)


def test_the_cores_override_replaces_the_count() -> None:
    plan = plan_threads(64, ONE_EACH, ThreadSettings(cores=2))
    assert plan.cores == 2 and plan.budget("infer").intra_op == 2


def test_the_plan_is_a_pure_function() -> None:
    assert plan_threads(6, ONE_EACH, streams=1) == plan_threads(6, dict(ONE_EACH), streams=1)


def test_an_unknown_kind_gets_one_thread() -> None:
    assert plan_threads(8, ONE_EACH).budget("somethingelse") == ThreadBudget("somethingelse")


def test_the_plan_logs_one_info_line_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streampose.runtime.threads"):
        plan_threads(2, ONE_EACH).log()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert any(line.startswith("threads: infer x1 of 2 cores: opencv 1, intra_op 2, inter_op 1")
               for line in lines), lines


def test_available_cores_is_the_affinity() -> None:
    assert 1 <= available_cores() <= 4096


def test_opencv_threads_are_applied_in_a_process_that_uses_opencv() -> None:
    code = ("import cv2; from streampose.runtime.threads import ThreadBudget, "
            "apply_opencv_threads as a; a(ThreadBudget('x', opencv=1)); "
            "print(cv2.getNumThreads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "1"


def test_opencv_is_not_imported_to_apply_a_budget() -> None:
    code = ("import sys; from streampose.runtime.threads import ThreadBudget, "
            "apply_opencv_threads as a; a(ThreadBudget('x', opencv=1)); "
            "print('cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "False"
