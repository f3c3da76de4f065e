"""The head registry: a model spec's ``head`` names one of these (see :mod:`.base`).

Built-in: ``paf`` (OpenPose-style heatmaps + part affinity fields, greedy grouping) and
``keypoints`` (one-stage: a box, a score and K keypoints per anchor, then NMS). A head
added elsewhere registers with :func:`register_head`; nothing else changes. A head's own
thresholds come from the pipeline file's ``[head.<name>]`` table, read by its
:meth:`~streampose.heads.base.Head.parse_settings` (:func:`head_settings`).
"""

from __future__ import annotations

import importlib

from streampose.config.sections import HEAD_TABLE, PipelineConfig
from streampose.errors import ConfigError, ModelError
from streampose.heads.base import Head, HeadSettings, Payload

__all__ = ["Head", "HeadSettings", "Payload", "head_class", "head_names", "head_settings",
           "make_head", "register_head"]

_BUILT_IN = {
    "paf": "streampose.heads.paf:PafHead",
    "keypoints": "streampose.heads.keypoints:KeypointHead",
}
_REGISTERED: dict[str, type[Head]] = {}


def register_head(cls: type[Head]) -> type[Head]:
    """Register ``cls`` under ``cls.name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a head needs a non-empty name")
    _REGISTERED[cls.name] = cls
    return cls


def head_names() -> tuple[str, ...]:
    return tuple(sorted({*_BUILT_IN, *_REGISTERED}))


def head_class(name: str, *, source: str = "<spec>") -> type[Head]:
    """The head class called ``name``; ModelError naming ``source`` when there is none."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    entry = _BUILT_IN.get(name)
    if entry is None:
        raise ModelError(f"{source}: invalid head = {name!r} (allowed: "
                         f"{' | '.join(head_names())})")
    module, _, attr = entry.partition(":")
    cls: type[Head] = getattr(importlib.import_module(module), attr)
    return cls


def make_head(spec: object, settings: HeadSettings | None = None) -> Head:
    """The head of ``spec`` (a ModelSpec), ready to use."""
    from streampose.models.spec import ModelSpec

    assert isinstance(spec, ModelSpec)
    return head_class(spec.head, source=spec.source)(spec, settings)


def head_settings(spec: object, config: PipelineConfig) -> HeadSettings:
    """The run-time settings of ``spec``'s head: the ``[decoder]`` and ``[keypoints]``
    thresholds, and what it makes of its ``[head.<name>]`` table. Every such table is
    checked by its head; ConfigError for a table that names no head."""
    from streampose.models.spec import ModelSpec

    assert isinstance(spec, ModelSpec)
    unknown = sorted(set(config.heads) - set(head_names()))
    if unknown:
        raise ConfigError(f"[{HEAD_TABLE}.{unknown[0]}]: no such head (known: "
                          f"{' | '.join(head_names())})")
    own = {name: head_class(name).parse_settings(table, source=f"[{HEAD_TABLE}.{name}]")
           for name, table in config.heads.items()}
    return HeadSettings(paf=config.decoder, keypoints=config.keypoints,
                        head=own.get(spec.head))
