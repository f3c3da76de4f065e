"""Models by name: the folders searched, in order, and the one-line error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streampose.errors import ModelError
from streampose.models.folders import (
    MODELS_ENV,
    find_model,
    installed_models,
    is_model_name,
    model_folders,
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPOSE_CACHE", str(tmp_path / "cache"))


def _model(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    path.write_bytes(b"onnx")
    return path


@pytest.mark.parametrize(("text", "name"), [
    ("openpose-mnthin-coco18", True), ("m.onnx", False), ("models/m", False),
    ("M.ONNX", False), ("", False)])
def test_is_model_name(text: str, name: bool) -> None:
    assert is_model_name(text) is name


def test_an_existing_file_is_not_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").write_bytes(b"")
    assert not is_model_name("m")


def test_folders_in_order(tmp_path: Path) -> None:
    env = {MODELS_ENV: os.pathsep.join(["/a", "", "/b"])}
    folders = model_folders(option=Path("/o"), configured=Path("/c"), environ=env)
    assert [(f.origin, str(f.path)) for f in folders] == [
        ("--models-dir", "/o"), (f"${MODELS_ENV}", "/a"), (f"${MODELS_ENV}", "/b"),
        ("[model].dir", "/c"), ("user cache", str(tmp_path / "cache" / "models"))]


def test_the_first_folder_that_has_the_name_wins(tmp_path: Path) -> None:
    first, second = _model(tmp_path / "one", "m"), _model(tmp_path / "two", "m")
    _model(tmp_path / "two", "other")
    folders = model_folders(environ={MODELS_ENV: f"{first.parent}{os.pathsep}{second.parent}"})
    assert find_model("m", folders) == first
    assert installed_models(folders) == {"m": first, "other": tmp_path / "two" / "other.onnx"}


def test_the_user_cache_is_searched_last(tmp_path: Path) -> None:
    cached = _model(tmp_path / "cache" / "models", "m")
    assert find_model("m", model_folders(environ={})) == cached


def test_an_unknown_name_is_one_line_naming_models_and_folders(tmp_path: Path) -> None:
    _model(tmp_path / "d", "present")
    folders = model_folders(option=tmp_path / "d", environ={MODELS_ENV: "/nowhere"})
    with pytest.raises(ModelError) as caught:
        find_model("absent", folders)
    message = str(caught.value)
    assert "\n" not in message and "'absent' not found" in message
    assert "present" in message and "/nowhere" in message and str(tmp_path / "d") in message
    assert "user cache" in message
