"""The shape of a Python package: longest functions and classes, largest modules, and the
joints between them (hubs, special cases, sinks, state machines, layers).

    python benchmarks/code_shape.py streampose            # the working tree
    python benchmarks/code_shape.py streampose --top 10
    python benchmarks/code_shape.py /other/checkout/streampose --json

Counts lines from a definition's first to its last line (docstrings included), with the
standard library's ``ast``; prints the median function length too. The joint figures:

- hubs: internal modules each module imports (distinct, at any level: module, under
  ``if TYPE_CHECKING:``, in a function), the top ones;
- largest classes: lines, methods, constructor arguments (``__init__``'s, less ``self``);
- ``slots is None`` branches (a run of changing cameras treated as a special case):
  comparisons (``is``, ``is not``, ``==``, ``!=``) with ``None`` of a name or attribute
  naming the stream-slot count (``slots``, ``stream_slots``, ``seats``: ring slots such as
  ``frame_slots`` are another concept), and truth tests of those (``if cfg.slots``,
  ``x.seats or y``, ``not slots``), per file; and, apart, truth tests of the mode flags
  that replaced them (``cameras_change``, ``changing``), per file;
- places that construct sinks: calls (or references passed as a call's argument, as to
  ``functools.partial`` or a registry entry) of a class deriving, within the package,
  from ``Sink`` (outputs/base.py), per function (or module body) and per file;
- camera-state machines: functions that *produce* two or more words of the camera-state
  vocabulary (starting, online, reconnecting, stalled, offline, finished, failing,
  pending, moved), as a string literal or a module constant holding one, in a
  ``return``, an assignment, a conditional expression or a call's argument
  (``states.append(OFFLINE)``); comparisons (``state == "online"``) only read a state
  and do not count;
- upward imports and import cycles, against the layer contract of tools/layers.py
  (every import kind; cycles among module-level imports, and among all kinds).
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import layers

STATES = frozenset({"starting", "online", "reconnecting", "stalled", "offline", "finished",
                    "failing", "pending", "moved"})
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def parsed(root: Path) -> dict[Path, ast.Module]:
    """Every module under ``root``, parsed."""
    return {path: ast.parse(path.read_text(), filename=str(path))
            for path in sorted(root.rglob("*.py"))}


def definitions(trees: dict[Path, ast.Module]
                ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(length, name) of every function and every class."""
    funcs: list[tuple[int, str]] = []
    classes: list[tuple[int, str]] = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, FUNCTIONS):
                funcs.append((_length(node), _where(path, node)))
            elif isinstance(node, ast.ClassDef):
                classes.append((_length(node), _where(path, node)))
    return funcs, classes


def _length(node: ast.AST) -> int:
    return (getattr(node, "end_lineno", 0) or 0) - getattr(node, "lineno", 0) + 1


def _where(path: Path, node: ast.AST) -> str:
    return f"{path}:{getattr(node, 'lineno', 0)} {getattr(node, 'name', '')}".rstrip()


def hubs(found: list[layers.Import]) -> list[tuple[int, str]]:
    """(distinct internal modules imported, module), largest first."""
    targets: dict[str, set[str]] = {}
    for imp in found:
        targets.setdefault(imp.source, set()).add(imp.target)
    return sorted(((len(t), m) for m, t in targets.items()), key=lambda r: (-r[0], r[1]))


def large_classes(trees: dict[Path, ast.Module]) -> list[dict[str, Any]]:
    """Every class with its lines, methods and constructor arguments, longest first."""
    rows = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, FUNCTIONS)]
                init = next((m for m in methods if m.name == "__init__"), None)
                rows.append({"class": _where(path, node), "lines": _length(node),
                             "methods": len(methods),
                             "init_args": _arg_count(init) if init else 0})
    return sorted(rows, key=lambda r: (-r["lines"], r["class"]))


def _arg_count(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = func.args
    count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
    return count - 1 + (a.vararg is not None) + (a.kwarg is not None)


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def slots_none(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """``slots is None``-style comparisons per file (files without any left out)."""
    counts: Counter[str] = Counter()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and _compares_slots_with_none(node):
                counts[str(path)] += 1
            counts[str(path)] += sum(_is_slots(t) for t in _truth_tests(node))
    return dict(sorted(((p, n) for p, n in counts.items() if n),
                       key=lambda kv: (-kv[1], kv[0])))


def _truth_tests(node: ast.AST) -> list[ast.expr]:
    """The expressions ``node`` tests for truth."""
    if isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
        return [node.test]
    if isinstance(node, ast.BoolOp):
        return list(node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return [node.operand]
    return []


MODE_NAMES = ("slots", "stream_slots", "seats")  # the stream-slot (seat) count
MODE_FLAGS = ("cameras_change", "changing")  # whether a run's cameras change


def _last(node: ast.AST) -> str:
    return _name(node).rsplit(".", 1)[-1].lower()


def _is_slots(node: ast.AST) -> bool:
    return isinstance(node, ast.Name | ast.Attribute) and _last(node) in MODE_NAMES


def _is_flag(node: ast.AST) -> bool:
    return isinstance(node, ast.Name | ast.Attribute) and _last(node) in MODE_FLAGS


def mode_flags(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """Truth tests of the changing-cameras flags per file (files without any left out)."""
    counts: Counter[str] = Counter()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            counts[str(path)] += sum(_is_flag(t) for t in _truth_tests(node))
    return dict(sorted(((p, n) for p, n in counts.items() if n),
                       key=lambda kv: (-kv[1], kv[0])))


def _compares_slots_with_none(node: ast.Compare) -> bool:
    if not all(isinstance(op, ast.Is | ast.IsNot | ast.Eq | ast.NotEq) for op in node.ops):
        return False
    sides = [node.left, *node.comparators]
    return any(_is_none(s) for s in sides) and \
        any(isinstance(s, ast.Name | ast.Attribute) and _last(s) in MODE_NAMES for s in sides)


def sink_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """Names of the classes that derive from ``Sink``, directly or through another."""
    bases = {node.name: {_name(b) for b in node.bases}
             for tree in trees.values() for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef)}
    sinks: set[str] = set()
    grown = True
    while grown:
        new = {c for c, b in bases.items() if c not in sinks and b & (sinks | {"Sink"})}
        sinks |= new
        grown = bool(new)
    return sinks


def sink_constructions(trees: dict[Path, ast.Module]) -> dict[str, list[str]]:
    """Where sinks are made: ``file:line function`` -> the sink classes it makes."""
    sinks = sink_classes(trees)
    places: dict[str, list[str]] = {}
    for path, tree in trees.items():
        for scope, call in _calls(tree):
            named = (call.func, *call.args, *(k.value for k in call.keywords))
            made = [n for n in map(_name, named) if n in sinks]
            if made:
                key = f"{path}:{scope.lineno} {getattr(scope, 'name', '<module>')}"
                places.setdefault(key, []).extend(made)
    return places


def _calls(tree: ast.Module) -> Iterator[tuple[Any, ast.Call]]:
    """Every call with its innermost enclosing function (or the module)."""
    def walk(node: ast.AST, scope: Any) -> Iterator[tuple[Any, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, FUNCTIONS) else scope
            if isinstance(child, ast.Call):
                yield scope, child
            yield from walk(child, inner)
    tree.lineno = 1  # type: ignore[attr-defined]
    yield from walk(tree, tree)


def state_machines(trees: dict[Path, ast.Module]) -> dict[str, list[str]]:
    """Functions producing two or more camera-state words: ``file:line name`` -> words."""
    found: dict[str, list[str]] = {}
    for path, tree in trees.items():
        constants = _state_constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, FUNCTIONS):
                words = sorted(_produced(node, constants))
                if len(words) >= 2:
                    found[_where(path, node)] = words
    return found


def _state_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to a state word (``ONLINE = "online"``, tuples too)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts, strict=False)
                         if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                         else [(target, node.value)])
                for name, value in pairs:
                    word = _word(value, {})
                    if isinstance(name, ast.Name) and word:
                        out[name.id] = word
    return out


def _word(node: ast.AST | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and node.value in STATES:
        return str(node.value)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _produced(func: ast.AST, constants: dict[str, str]) -> set[str]:
    words: set[str] = set()
    for node in ast.walk(func):
        values: list[ast.AST | None] = []
        if isinstance(node, ast.Return | ast.Assign | ast.AnnAssign):
            values = [node.value]
        elif isinstance(node, ast.Call):
            values = list(node.args)
        for value in values:
            for leaf in _branches(value):
                if (word := _word(leaf, constants)) is not None:
                    words.add(word)
    return words


def _branches(node: ast.AST | None) -> Iterator[ast.AST | None]:
    if isinstance(node, ast.IfExp):
        yield from _branches(node.body)
        yield from _branches(node.orelse)
    else:
        yield node


def layer_figures(root: Path) -> tuple[dict[str, Any], list[layers.Import]]:
    """Upward imports (by kind, known exceptions included) and import cycles; the imports."""
    found = layers.imports(root)
    up = layers.upward(found)
    every = ("top", "type", "lazy")
    return {
        "imports": dict(Counter(imp.kind for imp in found)),
        "upward": [layers.describe(imp) for imp in up],
        "upward_by_kind": dict(Counter(imp.kind for imp in up)),
        "cycles_module_level": layers.cycles(found, layers.CYCLE_KINDS),
        "cycles_all_kinds": layers.cycles(found, every),
    }, found


def figures(root: Path, top: int) -> dict[str, Any]:
    trees = parsed(root)
    funcs, classes = definitions(trees)
    modules = sorted(((len(p.read_text().splitlines()), str(p)) for p in trees), reverse=True)
    layer, found = layer_figures(root)
    machines = state_machines(trees)
    slots, flags = slots_none(trees), mode_flags(trees)
    sinks = sink_constructions(trees)
    return {
        "modules": len(modules), "functions": len(funcs),
        "median_function_lines": statistics.median(n for n, _ in funcs),
        "longest_functions": sorted(funcs, reverse=True)[:top],
        "longest_classes": sorted(classes, reverse=True)[:top],
        "largest_modules": modules[:top],
        "hubs": hubs(found)[:top],
        "largest_classes": large_classes(trees)[:top],
        "slots_is_none": {"total": sum(slots.values()), "files": slots},
        "mode_flags": {"total": sum(flags.values()), "files": flags},
        "sink_classes": sorted(sink_classes(trees)),
        "sink_constructions": {"places": len(sinks), "files": len({w.split(":")[0] for w in sinks}),
                               "where": sinks},
        "state_machines": {"count": len(machines), "where": machines},
        "layers": layer,
    }


def report(f: dict[str, Any]) -> Iterator[str]:
    yield (f"modules: {f['modules']}, functions: {f['functions']}, "
           f"median function: {f['median_function_lines']:.0f} lines")
    for title in ("longest_functions", "longest_classes", "largest_modules", "hubs"):
        yield f"\n{title.replace('_', ' ')}{' (internal imports)' if title == 'hubs' else ''}:"
        yield from (f"  {n:5d}  {name}" for n, name in f[title])
    yield "\nlargest classes (lines, methods, constructor arguments):"
    yield from (f"  {r['lines']:5d} {r['methods']:3d} {r['init_args']:3d}  {r['class']}"
                for r in f["largest_classes"])
    yield from _counted("`slots is None`-style branches", f["slots_is_none"]["total"],
                        (f"{n:3d}  {p}" for p, n in f["slots_is_none"]["files"].items()))
    yield from _counted("changing-cameras flag tests (cameras_change, changing)",
                        f["mode_flags"]["total"],
                        (f"{n:3d}  {p}" for p, n in f["mode_flags"]["files"].items()))
    made = f["sink_constructions"]
    yield from _counted(f"places that construct sinks ({made['files']} files)", made["places"],
                        (f"{w}: {', '.join(s)}"
                         for w, s in f["sink_constructions"]["where"].items()))
    yield from _counted("camera-state machines", f["state_machines"]["count"],
                        (f"{w}: {', '.join(s)}" for w, s in f["state_machines"]["where"].items()))
    yield from _layers(f["layers"])


def _counted(title: str, total: int, rows: Iterator[str]) -> Iterator[str]:
    yield f"\n{title}: {total}"
    yield from (f"  {row}" for row in rows)


def _layers(layer: dict[str, Any]) -> Iterator[str]:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(layer["upward_by_kind"].items()))
    yield from _counted(f"upward imports ({kinds or 'none'})", len(layer["upward"]),
                        iter(layer["upward"]))
    for key in ("cycles_module_level", "cycles_all_kinds"):
        yield from _counted(f"import cycles ({key.removeprefix('cycles_').replace('_', ' ')})",
                            len(layer[key]), (" -> ".join(c) for c in layer[key]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="the figures as one JSON object")
    args = parser.parse_args()
    f = figures(args.root, args.top)
    if args.json:
        print(json.dumps(f, indent=1))
    else:
        print("\n".join(report(f)))


if __name__ == "__main__":
    main()
