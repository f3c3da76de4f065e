"""The shared data folder beside the checkout (../shared): its path, and a skip when a
file of it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the checkout
SHARED = ROOT.parent / "shared"  # the shared data folder beside the checkout


def shared_file(relative: str) -> Path:
    """Path of a file in ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (the shared data folder beside the checkout)")
    return path
