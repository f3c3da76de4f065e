"""Imports point down the layers (tools/layers.py: LAYERS) and form no cycle.

Every internal import counts for the direction: at module level, under ``if TYPE_CHECKING:``
and inside functions (lazy); cycles are checked at module level (tools/layers.py explains
why). The known exceptions (tools/layers.py: KNOWN) must still occur, so that the
list only shrinks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import layers

ROOT = Path(__file__).resolve().parents[1] / "streampose"


@pytest.fixture(scope="module")
def found() -> list[layers.Import]:
    return layers.imports(ROOT)


def test_every_module_has_a_layer(found: list[layers.Import]) -> None:
    for module in layers.modules(ROOT):
        layers.layer_of(module)  # ValueError names a module missing from LAYERS


def test_no_import_points_up(found: list[layers.Import]) -> None:
    bad = [layers.describe(imp) for imp in layers.upward(found) if not layers.is_known(imp)]
    assert not bad, "imports that point up the layers:\n" + "\n".join(bad)


def test_no_import_cycle(found: list[layers.Import]) -> None:
    kept = [imp for imp in found if not layers.is_known(imp)]
    messages = []
    for component in layers.cycles(kept, layers.CYCLE_KINDS):
        path = layers.cycle_path(component, kept, layers.CYCLE_KINDS)
        messages.append("cycle:\n" + "\n".join("  " + layers.describe(imp) for imp in path))
    assert not messages, "\n".join(messages)


def test_known_exceptions_still_occur(found: list[layers.Import]) -> None:
    seen = {(imp.source, imp.target) for imp in found}
    gone = sorted(set(layers.KNOWN) - seen)
    assert not gone, f"fixed, remove from tools/layers.py KNOWN: {gone}"


def test_the_check_sees_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "streampose"
    (package / "pose").mkdir(parents=True)
    (package / "stages").mkdir()
    for init in (package, package / "pose", package / "stages"):
        (init / "__init__.py").write_text("")
    (package / "pose" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from streampose.stages import b\n"
        "if TYPE_CHECKING:\n    from streampose.stages.b import B\n")
    (package / "stages" / "b.py").write_text(
        "def f():\n    from streampose.pose.a import A\n")
    found = layers.imports(package)
    assert [(imp.source, imp.target, imp.line, imp.kind) for imp in found] == [
        ("streampose.pose.a", "streampose.stages.b", 2, "top"),
        ("streampose.pose.a", "streampose.stages.b", 4, "type"),
        ("streampose.stages.b", "streampose.pose.a", 2, "lazy")]
    assert len(layers.upward(found)) == 2
    assert "(transport, pose) -> streampose.stages.b (stages) [top]" in layers.describe(found[0])
    assert layers.cycles(found, layers.CYCLE_KINDS) == []  # a lazy import closes no loop on import
    assert layers.cycles(found, ("top", "type", "lazy")) == [
        ["streampose.pose.a", "streampose.stages.b"]]
