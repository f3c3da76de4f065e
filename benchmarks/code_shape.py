"""The shape of a Python package: longest functions and classes, largest modules.

    python benchmarks/code_shape.py streampose            # the working tree
    python benchmarks/code_shape.py streampose --top 10

Counts lines from a definition's first to its last line (docstrings included), with the
standard library's ``ast``; prints the median function length too.
"""

from __future__ import annotations

import argparse
import ast
import statistics
from pathlib import Path


def definitions(root: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(length, name) of every function and every class under ``root``."""
    funcs: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            length = (getattr(node, "end_lineno", 0) or 0) - getattr(node, "lineno", 0) + 1
            where = f"{path}:{getattr(node, 'lineno', 0)} {getattr(node, 'name', '')}"
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                funcs.append((length, where))
            elif isinstance(node, ast.ClassDef):
                classes.append((length, where))
    return funcs, classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    funcs, classes = definitions(args.root)
    modules = sorted(((len(p.read_text().splitlines()), str(p))
                      for p in args.root.rglob("*.py")), reverse=True)
    print(f"modules: {len(modules)}, functions: {len(funcs)}, "
          f"median function: {statistics.median(n for n, _ in funcs):.0f} lines")
    for title, rows in (("longest functions", sorted(funcs, reverse=True)),
                        ("longest classes", sorted(classes, reverse=True)),
                        ("largest modules", modules)):
        print(f"\n{title}:")
        for n, name in rows[: args.top]:
            print(f"  {n:5d}  {name}")


if __name__ == "__main__":
    main()
