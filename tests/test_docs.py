"""The docs name only options that exist, and the README's usage block is the parser's.

Every ``--flag`` in README.md, ARCHITECTURE.md and the pipeline files' comments must be
an option of a ``streampose`` command, or be listed in :data:`OTHER_TOOLS` with the file
that defines it (the samples, benchmarks and CI scripts have their own options).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.shared import ROOT
from tools import readme_usage

DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "pipelines").glob("*.toml"))]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
OTHER_TOOLS = {  # flag -> the file that defines it
    "--cpu-smoke": "benchmarks/gpu.py",
    "--camera": "benchmarks/startup.py",
    "--checkout": "benchmarks/startup.py",
    "--check": ".ci/apt.sh",
    "--x": "samples/count_line_crossings.py",
    "--follow": "samples/count_line_crossings.py",
    "--seconds": "benchmarks/fleet.py",
    "--trials": "benchmarks/fleet.py",
    "--kill": "benchmarks/fleet.py",
    "--no-video": "benchmarks/recall.py",
    "--minutes": "benchmarks/soak.py",
    "--camera-restart-every": "benchmarks/soak.py",
    "--broker-restart-every": "benchmarks/soak.py",
    "--sample-every": "benchmarks/soak.py",
    "--warmup": "benchmarks/soak.py",
    "--report-only": "benchmarks/soak.py",
    # `ray start` (the fleet's cluster is started by the user)
    "--head": "streampose/fleet/cli.py",
    "--port": "streampose/fleet/cli.py",
    "--num-cpus": "streampose/fleet/cli.py",
    "--dist": ".ci/run",  # pytest-xdist's, in the test command
    "--no-loadscope-reorder": ".ci/run",
}


def parser_flags() -> set[str]:
    """Every option string of every streampose command (and argparse's --help)."""
    flags = {"--help", "--version"}
    for sub in readme_usage.commands().values():
        for action in sub._actions:
            flags.update(s for s in action.option_strings if s.startswith("--"))
    return flags


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_the_docs_name_exists(doc: Path) -> None:
    known = parser_flags()
    named = set(FLAG.findall(doc.read_text(encoding="utf-8")))
    unknown = sorted(flag for flag in named - known if flag not in OTHER_TOOLS)
    assert unknown == [], f"{doc.name} names options that no command has: {unknown}"


def test_other_tools_flags_are_real() -> None:
    for flag, file in OTHER_TOOLS.items():
        assert flag in (ROOT / file).read_text(encoding="utf-8"), (flag, file)


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run's pytest line is the README's (plus not writing .pytest_cache)."""
    readme = re.findall(r"python -m pytest[^\n`]*", (ROOT / "README.md").read_text("utf-8"))
    ci = re.findall(r"^python -m pytest.*$", (ROOT / ".ci" / "run").read_text("utf-8"), re.M)
    assert ci == [f"{readme[0]} -p no:cacheprovider"], (readme, ci)


def test_readme_usage_block_is_the_parsers() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_usage.render(text) == text, (
        f"README.md's usage block is out of date: run `{readme_usage.COMMAND}`")


def test_readme_usage_block_names_every_option() -> None:
    """What the block must show, read independently of its layout."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(readme_usage.BEGIN)[1].split(readme_usage.END)[0]
    shown = set(re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", block))
    missing = sorted(action.option_strings[-1] for sub in readme_usage.commands().values()
                     for action in sub._actions
                     if action.option_strings and not shown & set(action.option_strings))
    assert missing == [], (f"README.md's usage block lacks {missing}: "
                           f"run `{readme_usage.COMMAND}`")


def test_source_help_mentions_cameras() -> None:
    help_text = readme_usage.commands()["run"].format_help()
    assert "rtsp://" in help_text and "/dev/videoN" in help_text
