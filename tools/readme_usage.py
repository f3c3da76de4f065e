"""Write the README's usage block from the real command-line parser.

    python tools/readme_usage.py           # rewrite the block in README.md
    python tools/readme_usage.py --check   # exit 1 (and say so) if it is out of date

The block sits between ``<!-- usage:begin -->`` and ``<!-- usage:end -->`` in README.md:
argparse's own usage line of each ``streampose`` command (run, eval, export, fleet ...) at a fixed
width, so adding an option to a config section (or a command) needs no hand edit of the
README, only a re-run of this script; tests/test_docs.py fails until it is re-run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- usage:begin -->", "<!-- usage:end -->"
WIDTH = 92
COMMAND = "python tools/readme_usage.py"


def commands() -> dict[str, argparse.ArgumentParser]:
    """The ``streampose`` subcommands' parsers, by name; a command with commands of its
    own (``fleet``) is replaced by them (``fleet up``, ``fleet status``, ...)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from streampose.cli import build_parser

    found = _subcommands(build_parser())
    if not found:
        raise RuntimeError("streampose's parser has no subcommands")
    return found


def _subcommands(parser: argparse.ArgumentParser, prefix: str = ""
                 ) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            found: dict[str, argparse.ArgumentParser] = {}
            for name, sub in action.choices.items():
                found.update(_subcommands(sub, f"{prefix}{name} ") or {prefix + name: sub})
            return found
    return {}


def usage_block() -> str:
    """The fenced usage block: one argparse usage per command, ``WIDTH`` columns."""
    parts = []
    for sub in commands().values():
        formatter = argparse.HelpFormatter(sub.prog, width=WIDTH)
        formatter.add_usage(sub.usage, sub._actions, sub._mutually_exclusive_groups,
                            prefix="")
        parts.append(formatter.format_help().rstrip())
    return "```\n" + "\n".join(parts) + "\n```"


def render(text: str) -> str:
    """``text`` (the README) with its usage block replaced by :func:`usage_block`."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} markers")
    return f"{head}{BEGIN}\n{usage_block()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check: exit 1 when the README's block is out of date")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"README.md's usage block is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: usage block updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
