"""Event rules in the configuration: --line/--zone/--fall/--events flags, the [events]
table of a pipeline file, the rules built from them (streampose.events.rules_from_config)
and the one-line errors (exit 2) for bad rules, before a run starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.cli import build_parser, main
from streampose.config.arguments import given_values
from streampose.config.build import build_config
from streampose.config.rules import parse_line, parse_zone
from streampose.config.toml import load_pipeline_file
from streampose.errors import ConfigError
from streampose.events import FallRule, LineRule, ZoneRule, rules_from_config

BASE = ["run", "in.mp4", "--model", "m.onnx"]


def _config(*flags: str):  # type: ignore[no-untyped-def]
    args = build_parser().parse_args([*BASE, *flags])
    return build_config({}, given_values(args))


@pytest.mark.parametrize(("text", "table"), [
    ("door:10,20,30.5,40", {"name": "door", "points": [10, 20, 30.5, 40]}),
    ("door:1,2,x,4", {"name": "door", "points": [1, 2, "x", 4]}),  # checked later
    ("10,20,30,40", {"name": "", "points": "10,20,30,40"}),
])
def test_line_flag_syntax(text: str, table: dict[str, object]) -> None:
    assert parse_line(text) == table


def test_zone_flag_syntax() -> None:
    assert parse_zone("z:0,0,10,0,0,10") == {"name": "z", "points": [0, 0, 10, 0, 0, 10]}


def test_flags_build_the_rules() -> None:
    config = _config("--line", "a:0,0,100,0", "--line", "b:0,0,0,100",
                     "--zone", "z:0,0,50,0,50,50", "--fall", "--events", "e.jsonl")
    assert config.events.jsonl == Path("e.jsonl")
    assert rules_from_config(config.events) == (
        LineRule(name="a", a=(0.0, 0.0), b=(100.0, 0.0)),
        LineRule(name="b", a=(0.0, 0.0), b=(0.0, 100.0)),
        ZoneRule(name="z", polygon=((0.0, 0.0), (50.0, 0.0), (50.0, 50.0))),
        FallRule())
    before_source = build_parser().parse_args(["run", "--fall", "a.mp4", "--model", "m.onnx"])
    assert given_values(before_source)["sources"] == ["a.mp4"]  # --fall takes no argument
    assert not _config().events.enabled and rules_from_config(_config().events) == ()


def test_pipeline_file_rules_and_command_line_layers(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("""
sources = ["in.mp4"]
[model]
path = "m.onnx"
[events]
jsonl = "out/events.jsonl"
[[events.line]]
name = "door"
points = [[0, 0], [100, 0]]
band = 3
camera = "cam1"
[[events.zone]]
name = "desk"
points = [[0, 0], [50, 0], [50, 50], [0, 50]]
dwell_s = 2.5
[events.fall]
still_s = 3
""", encoding="utf-8")
    values = load_pipeline_file(path)
    assert values["events"]["jsonl"] == tmp_path / "out" / "events.jsonl"
    config = build_config(values, {})
    assert rules_from_config(config.events) == (
        LineRule(name="door", a=(0.0, 0.0), b=(100.0, 0.0), band=3.0, camera="cam1"),
        ZoneRule(name="desk", polygon=((0.0, 0.0), (50.0, 0.0), (50.0, 50.0), (0.0, 50.0)),
                 dwell_s=2.5),
        FallRule(still_s=3.0))
    args = build_parser().parse_args([*BASE, "--line", "gate:0,0,0,80"])
    layered = build_config(values, given_values(args))  # the command line's list wins
    assert [r.name for r in rules_from_config(layered.events)] == ["gate", "desk", "fall"]


@pytest.mark.parametrize(("toml", "message"), [
    ("[[events.line]]\nname = 'a'\npoints = [0, 0, 100, 0]\ncolor = 'red'\n",
     "[[events.line]] 'a': unknown key 'color'; known keys: name, points"),
    ("[events]\nlines = []\n", "[events].lines: unknown key (did you mean 'line'?)"),
    ("[events.fall]\nstil_s = 2\n", "[events.fall]: unknown key 'stil_s'"),
    ("[events]\nline = 'a:0,0,1,1'\n", "[events].line = 'a:0,0,1,1': expected a list of tables"),
    ("[[events.zone]]\nname = 'z'\npoints = [[0, 0], [10, 10], [20, 20]]\n", "has no area"),
])
def test_bad_rules_in_a_file_name_what_is_wrong(tmp_path: Path, toml: str, message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f"sources = ['in.mp4']\n[model]\npath = 'm.onnx'\n{toml}",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:  # the file's tables, or the rules built
        rules_from_config(build_config(load_pipeline_file(path), {}).events)
    assert message in str(caught.value)
    assert main(["run", "--config", str(path)]) == 2  # before the source is opened
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("flags", "message"), [
    (["--line", "door:0,0,1,0"], "must be longer than 2 px"),
    (["--line", "0,0,100,0"], "name = '': expected a non-empty name"),
    (["--line", "a:0,0,100,0", "--line", "a:0,10,100,10"], "two lines named 'a'"),
    (["--zone", "z:0,0,10,10,20,20"], "has no area"),
    (["--zone", "z:0,0,10,10,10,0,0,10"], "edges cross"),
    (["--events", "e.jsonl"], "no event rules"),
    (["--line", "a:0,0,100,0", "--no-tracking"], "remove --no-tracking"),
])
def test_bad_rule_flags_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                             flags: list[str], message: str) -> None:
    assert main([*BASE, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
