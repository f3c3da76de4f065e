"""The command line generated from the config sections: help that says what each flag
does, the per-head default sizes, ``--progress-every``."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

from streampose.cli import build_parser
from streampose.config.arguments import cli_options
from streampose.config.fields import Section, option, options
from streampose.models.onnx_meta import STREAM_SCALE
from streampose.models.spec import ModelSpec
from tests.support.shared import ROOT


def _help_of(command: str) -> dict[str, str]:
    """``{flag: its help, whitespace collapsed}`` of a ``streampose`` command."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {s: " ".join((a.help or "").split()) for a in parser._actions
            for s in a.option_strings}


@pytest.mark.parametrize("command", ["run", "eval"])
def test_no_help_line_says_a_flag_turns_something_off_backwards(command: str) -> None:
    helps = _help_of(command)
    assert not [h for h in helps.values() if "on by default" in h or "turns it off" in h]
    assert not [h for f, h in helps.items() if f.startswith("--no-") and "(off:" in h]


@pytest.mark.parametrize(("flag", "says"), [
    ("--no-overwrite", "refuse to replace an existing output"),
    ("--no-ids", "draw no person ids"),
    ("--tracking", "person ids stable across frames (--no-tracking gives id -1"),
    ("--no-reconnect", "end a live stream that drops, don't reconnect"),
])
def test_a_no_flag_s_help_says_what_the_flag_does(flag: str, says: str) -> None:
    assert _help_of("run")[flag].startswith(says)


def test_every_negated_option_says_what_its_flag_does() -> None:
    negated = [opt for opt in cli_options() if opt.meta.negate]
    assert {opt.flag for opt in negated} >= {"--no-overwrite", "--no-ids", "--no-reconnect"}
    assert all(opt.meta.negate_help for opt in negated)


@dataclass(frozen=True)
class _Careless(Section):
    table: ClassVar[str] = "careless"
    on: bool = option(True, negate="--no-on", help="something")


def test_a_negated_option_without_its_flag_s_help_is_refused() -> None:
    with pytest.raises(TypeError, match="--no-on needs a negate_help"):
        options(_Careless)


def test_height_help_gives_each_head_s_default_size() -> None:
    text = _help_of("run")["--height"]
    paf = {ModelSpec.from_toml(path).input_height
           for path in (ROOT / "streampose" / "models" / "specs").glob("*.toml")}
    assert paf == {368} and "PAF (OpenPose) models: 368" in text
    yolo = round(STREAM_SCALE * 640)
    assert yolo == 960 and f"YOLO-pose keypoint models: {yolo}" in text
    assert "e.g. 640" not in text


@pytest.mark.parametrize("command", ["run", "eval"])
def test_progress_every_takes_seconds(command: str) -> None:
    extra = ["images", "ann.json"] if command == "eval" else []
    parse = build_parser().parse_args
    assert parse([command, *extra]).progress_every == 10.0
    assert parse([command, *extra, "--progress-every", "0"]).progress_every == 0.0
    assert parse([command, *extra, "--progress-every", "2.5"]).progress_every == 2.5


@pytest.mark.parametrize("value", ["-1", "soon", "inf"])
def test_progress_every_refuses_what_is_not_seconds(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--progress-every", value])
    assert re.search(r"--progress-every: .*seconds", capsys.readouterr().err)


def test_interval_takes_an_integer_or_auto(capsys: pytest.CaptureFixture[str]) -> None:
    parse = build_parser().parse_args
    assert getattr(parse(["run", "--interval", "2"]), "model.interval") == 2
    assert getattr(parse(["run", "--interval", "auto"]), "model.interval") == "auto"
    assert getattr(parse(["run", "--interval-max", "4"]), "model.interval_max") == 4
    with pytest.raises(SystemExit):
        parse(["run", "--interval", "fast"])
    assert "--interval: 'fast' is not an integer or 'auto'" in capsys.readouterr().err
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "[--interval N|auto]" in sub.choices["run"].format_usage()


def test_the_smallest_person_takes_pixels_or_a_share_and_says_both() -> None:
    parse = build_parser().parse_args
    assert getattr(parse(["run", "--min-person-height", "40"]), "model.min_person_height") == 40
    assert getattr(parse(["run", "--min-person-height", "7.5%"]),
                   "model.min_person_height") == "7.5%"
    # other text passes through: the option's check names what is wrong with it
    assert getattr(parse(["run", "--min-person-height", "5px"]),
                   "model.min_person_height") == "5px"
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "[--min-person-height PX|N%]" in sub.choices["run"].format_usage()
    text = _help_of("run")["--min-person-height"]
    assert "frame pixels (40)" in text and "N%% of the frame's height (11%%" in text
