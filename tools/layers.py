"""The package's import graph and its layer contract, read with the standard library's ``ast``.

Shared by ``tests/test_layers.py`` (which fails on an upward import or a cycle) and
``benchmarks/code_shape.py`` (which prints the figures).

How imports are counted:

- ``top``: executed when the module is imported (module or class body, also under ``try``).
- ``type``: under ``if TYPE_CHECKING:``; never executed, but they say which layer knows
  which as much as the others do.
- ``lazy``: inside a function body; executed on first call (optional dependencies, and
  peers of one layer that need each other: a registry and what it registers).

All three must point down the layers (or stay in their layer). ``top`` imports must form
no cycle (:data:`CYCLE_KINDS`): a cycle at module level is what makes import order matter.
``type`` and ``lazy`` imports are left out of the cycle check (the first never run, the
second run after every module is loaded), so either may close a loop within one layer,
never across layers (a ``TYPE_CHECKING`` import between two sections of the config, a
registry that imports what it registers on first use).

An import names the most specific module that exists: ``from streampose.pose import Poses``
is an edge to ``streampose.pose`` (its ``__init__``), ``from streampose.pose import decoder``
an edge to ``streampose.pose.decoder``. Importing ``a.b.c`` also runs ``a/__init__`` and
``a/b/__init__``; those implicit parent edges are not counted: a package's ``__init__`` is
seen where an import names the package itself (the test suite, which imports every
module, shows an implicit loop that fails).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "streampose"

# The layer contract, lowest first: (name, module prefixes). A module belongs to the layer of
# its longest matching prefix; it may import modules of its own layer or of layers below,
# never above, and no import cycle may form (within a layer either). Where a package's
# modules sit on two layers, the odd module is listed by its full name, with the reason.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("streampose.errors", "streampose.uri", "streampose.lifecycle",
              "streampose.timestamps", "streampose.arith")),
    # settings: frozen dataclasses, pure Python. The [mqtt] url option's parser lives in
    # mqtt/ but imports only errors and uri.
    ("config", ("streampose.config", "streampose.mqtt.url")),
    ("transport, pose", ("streampose.transport", "streampose.pose")),
    # counters, stats, metrics, live state, the terminal status: read by every layer above
    ("observe", ("streampose.observe",)),
    # the letterbox is the network input as the model spec asks (pose/letterbox.py);
    # regions: where in a frame the network looks
    ("models, heads, backends, processing", (
        "streampose.models", "streampose.heads", "streampose.backends",
        "streampose.processing", "streampose.pose.letterbox", "streampose.regions")),
    # what frames come from and results go to (the web console and MQTT are outputs too)
    ("sources, outputs, render, events", (
        "streampose.sources", "streampose.outputs", "streampose.render",
        "streampose.events", "streampose.console", "streampose.mqtt")),
    # a run's seats (each carries one camera at a time) and the parent's camera assigner
    ("cameras", ("streampose.cameras",)),
    # the stage runner, channels, supervisor; the run summary reads the supervisor's result,
    # and the progress lines off a terminal read the run's Progress (observe/summary.py)
    ("runtime", ("streampose.runtime", "streampose.observe.summary",
                 "streampose.observe.progress_log")),
    # what the parent decides and makes before a stage starts: the run plan (validated
    # config, probed sources, model, process layout, ring sizes) and the run's shared state
    ("planning", ("streampose.planning",)),
    ("stages", ("streampose.stages",)),
    # what the parent runs beside the stages, each listening to the tick
    ("services", ("streampose.services",)),
    # the package's lazy attributes (streampose.Pipeline, .run, .stream) are the pipeline's;
    # `streampose quantize` scores its candidates with the evaluation pipeline
    ("pipeline", ("streampose", "streampose.pipeline", "streampose.streaming",
                  "streampose.evaluate", "streampose.quantize")),
    ("fleet", ("streampose.fleet",)),
    ("cli", ("streampose.cli",)),
    # `python -m streampose` and the fleet node's child process run the command line
    ("entry points", ("streampose.__main__", "streampose.fleet.child")),
)

# Imports that break the contract and are known: (importer, imported) -> why. The check
# fails on any other, and on an entry here that no longer happens (the list only shrinks;
# it is empty).
KNOWN: dict[tuple[str, str], str] = {}

# The kinds of import the cycle check covers.
CYCLE_KINDS = ("top",)


@dataclass(frozen=True)
class Import:
    """One internal import: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: Path
    line: int
    kind: str  # "top", "type" or "lazy"


def module_name(root: Path, path: Path) -> str:
    """``streampose/pose/decoder.py`` -> ``streampose.pose.decoder`` (``root`` is the package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    return {module_name(root, path): path for path in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _statements(body: list[ast.stmt], kind: str) -> Iterator[tuple[ast.stmt, str]]:
    """Every import statement in ``body`` with how it is executed (see the module docstring)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, "lazy")
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, "type" if kind == "top" else kind)
            yield from _statements(node.orelse, kind)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, field, []) or []:
                    inner = child.body if isinstance(child, ast.ExceptHandler | ast.match_case) \
                        else [child]
                    yield from _statements(inner, kind)


def _absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    """The absolute module ``node`` imports from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = source.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The most specific known module that ``name`` (a module or a name in one) is."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


def _targets(node: ast.Import | ast.ImportFrom, source: str, known: dict[str, Path]
             ) -> Iterator[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _absolute(node, source, known[source].name == "__init__.py")
        names = [f"{base}.{alias.name}" for alias in node.names]
    for name in names:
        if name.split(".")[0] == PACKAGE and (target := _resolve(name, known)):
            yield target


def imports(root: Path) -> list[Import]:
    """Every internal import of the package under ``root``, in file and line order."""
    known = modules(root)
    found: list[Import] = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, kind in _statements(tree.body, "top"):
            assert isinstance(node, ast.Import | ast.ImportFrom)
            for target in dict.fromkeys(_targets(node, source, known)):
                if target != source:
                    found.append(Import(source, target, path, node.lineno, kind))
    return found


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of the layer that ``module`` belongs to (longest prefix)."""
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best < 0:
        raise ValueError(f"{module} is in no layer: add it to tools.layers.LAYERS")
    return best


def is_known(imp: Import) -> bool:
    """Whether ``imp`` is one of the :data:`KNOWN` exceptions."""
    return (imp.source, imp.target) in KNOWN


def upward(found: list[Import]) -> list[Import]:
    """The imports that point to a higher layer than their importer's."""
    return [imp for imp in found if layer_of(imp.target) > layer_of(imp.source)]


def describe(imp: Import) -> str:
    """``path:line source (layer) -> target (layer) [kind]`` for a failure message."""
    return (f"{imp.path}:{imp.line} {imp.source} ({LAYERS[layer_of(imp.source)][0]}) -> "
            f"{imp.target} ({LAYERS[layer_of(imp.target)][0]}) [{imp.kind}]")


def cycles(found: list[Import], kinds: tuple[str, ...] = ("top",)) -> list[list[str]]:
    """The import cycles among the imports of ``kinds``: strongly connected components of two
    or more modules, each sorted (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.kind in kinds:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    return _components(graph)


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(result)


def cycle_path(component: list[str], found: list[Import],
               kinds: tuple[str, ...] = ("top",)) -> list[Import]:
    """One closed path of imports of ``kinds`` through ``component``, for a failure message."""
    members = set(component)
    edges: dict[str, list[Import]] = {}
    for imp in found:
        if imp.kind in kinds and imp.source in members and imp.target in members:
            edges.setdefault(imp.source, []).append(imp)
    start = component[0]
    seen: dict[str, Import | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for imp in edges.get(node, []):
            if imp.target == start:
                return _walk_back(seen, imp)
            if imp.target not in seen:
                seen[imp.target] = imp
                queue.append(imp.target)
    return []


def _walk_back(seen: dict[str, Import | None], last: Import) -> list[Import]:
    path = [last]
    while (prev := seen[path[-1].source]) is not None:
        path.append(prev)
    return path[::-1]
