"""COCO image ids by file name, read from an annotation file.

Datasets such as OCHuman number their images independently of the file names, so the
id in a results file must come from the annotation file's ``images`` list
(``{"id": 17, "file_name": "000123.jpg"}``), matched on the file's base name. Every
image of a run must be listed: a missing one is an error naming it, never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from streampose.errors import ConfigError

__all__ = ["check_names", "image_ids", "load_image_ids", "read_annotations"]

_SHOWN = 5  # missing names listed in an error


def read_annotations(path: Path) -> dict[str, Any]:
    """The annotation file as a JSON object; ConfigError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"annotation file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"annotation file {path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"annotation file {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ConfigError(f"annotation file {path}: not a COCO annotation file (needs an "
                          "'images' list)")
    return data


def image_ids(data: Mapping[str, Any], path: Path) -> dict[str, int]:
    """``{base file name: image id}`` from the ``images`` list of annotation ``data``
    (read from ``path``, named in errors); two ids for one name is an error."""
    ids: dict[str, int] = {}
    for entry in data["images"]:
        name, image_id = _entry(entry, path)
        if ids.get(name, image_id) != image_id:
            raise ConfigError(f"annotation file {path}: file name {name!r} has two ids "
                              f"({ids[name]} and {image_id})")
        ids[name] = image_id
    return ids


def load_image_ids(path: Path) -> dict[str, int]:
    """``{base file name: image id}`` of the annotation file at ``path``."""
    return image_ids(read_annotations(path), path)


def check_names(ids: Mapping[str, int], names: Iterable[str], path: Path) -> None:
    """ConfigError naming the images of ``names`` that ``ids`` (from ``path``) lacks."""
    missing = [name for name in names if name not in ids]
    if missing:
        shown = ", ".join(missing[:_SHOWN]) + (", ..." if len(missing) > _SHOWN else "")
        raise ConfigError(f"--coco-ids {path}: {len(missing)} image(s) not in its 'images' "
                          f"list (matched by file name): {shown}")


def _entry(entry: object, path: Path) -> tuple[str, int]:
    if not isinstance(entry, dict):
        raise ConfigError(f"annotation file {path}: images entry {entry!r} is not an object")
    name, image_id = entry.get("file_name"), entry.get("id")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"annotation file {path}: image {image_id!r} has no file_name")
    if not isinstance(image_id, int) or isinstance(image_id, bool):
        raise ConfigError(f"annotation file {path}: image {name!r} has id {image_id!r}, "
                          "not an integer")
    return PurePosixPath(name.replace("\\", "/")).name, image_id
