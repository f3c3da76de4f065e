"""Model heads: from a network's raw outputs to :class:`~streampose.pose.poses.Poses`.

A model spec names its head (``head = "paf"`` or ``head = "keypoints"``); the head class
is chosen by that name from the registry (:mod:`streampose.heads`). A head knows

* which tables of the spec describe its outputs (:meth:`Head.parse_options`, run while
  the spec is read, so a bad table is one :class:`~streampose.errors.ModelError` naming
  the file and the field);
* its own run-time options, such as thresholds, from the pipeline file's ``[head.<name>]``
  table (:meth:`Head.parse_settings`; none by default: the built-in heads take theirs from
  ``[decoder]`` and ``[keypoints]``);
* which model outputs it reads (:attr:`Head.outputs`) and what shape they must have
  (:meth:`Head.check_outputs`, run when the backend opens the model);
* how big one frame's payload is in the map ring (:meth:`Head.payload_bytes`);
* how to turn a batch of raw outputs into one payload per frame (:meth:`Head.payloads`,
  in the infer process) and a payload back into poses in **network-input pixels**
  (:meth:`Head.decode`, in a postprocess worker). The letterbox inverse is shared
  (:func:`streampose.pose.letterbox.input_to_frame`).

Nothing below the head (backends, rings, render, tracking, sinks) knows which head a
model has. See ARCHITECTURE.md ("Extending").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from streampose.errors import ConfigError
from streampose.pose.letterbox import Letterbox
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton, get_skeleton

if TYPE_CHECKING:
    from streampose.models.spec import ModelSpec
    from streampose.transport.messages import FrameHeader
    from streampose.transport.ring import SharedRing

__all__ = ["Head", "HeadSettings", "Payload", "Shape"]

Shape = tuple[int | str | None, ...]  # a model output's declared shape (None/str: dynamic)


class Payload(ABC):
    """One frame's head results, ready to be written into a map-ring slot."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Bytes this payload moves back from the inference device."""

    @abstractmethod
    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        """Write into ``slot``; returns the (shape, dtype) the item header records."""


class HeadSettings:
    """Run-time settings a head may use (thresholds from the config); a plain bag so
    heads added later take their own without changing the callers. ``head``: what the
    head's :meth:`Head.parse_settings` made of its ``[head.<name>]`` table."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class Head(ABC):
    """Turns one model's raw outputs into poses. Subclasses register under :attr:`name`."""

    name: ClassVar[str] = ""
    on_device: bool = False  # True: payloads() gets torch tensors on the inference device

    def __init__(self, spec: ModelSpec, settings: HeadSettings | None = None) -> None:
        self.spec = spec
        self.settings = settings or HeadSettings()
        self.skeleton: Skeleton = get_skeleton(spec.skeleton)

    # -- the spec ---------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def parse_options(cls, table: Mapping[str, Any], *, source: str) -> object:
        """The head's part of a spec (every key the generic spec does not know), checked.

        Raises ModelError naming ``source`` and the field for anything missing or wrong.
        """

    @classmethod
    def parse_settings(cls, table: Mapping[str, object], *, source: str) -> object:
        """The head's own run-time options (thresholds) from the pipeline file's
        ``[head.<name>]`` table, checked; the head finds them as ``settings.get("head")``.

        A head takes none unless it overrides this: ConfigError naming ``source`` for a key.
        """
        if table:
            raise ConfigError(f"{source}: unknown key {next(iter(table))!r} (the "
                              f"{cls.name!r} head takes no options here)")
        return None

    @property
    def options(self) -> Any:
        """What :meth:`parse_options` returned for this spec."""
        return self.spec.head_options

    @property
    @abstractmethod
    def outputs(self) -> tuple[str, ...]:
        """The model outputs this head reads, in the order backends should fetch them."""

    @abstractmethod
    def check_outputs(self, shapes: Mapping[str, Shape], *, model: str) -> None:
        """ModelError naming ``model`` and the spec field when an output is missing or has a
        shape this head cannot read."""

    # -- the payload --------------------------------------------------------------------

    @abstractmethod
    def payload_bytes(self, plans: Iterable[Letterbox]) -> int:
        """Map-ring slot bytes for frames letterboxed by ``plans``."""

    @abstractmethod
    def payloads(self, outputs: Mapping[str, Any], count: int) -> Sequence[Payload]:
        """One payload per frame of a batch of ``count`` frames, from the raw ``outputs``."""

    @abstractmethod
    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        """The poses in one payload, keypoints in network-input pixels (pixel edges on
        integers: pixel ``i`` covers ``[i, i + 1)``)."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)


def as_numpy(array: Any) -> np.ndarray:
    """A numpy array from a numpy array or a torch tensor (copied to the host)."""
    if isinstance(array, np.ndarray):
        return array
    return np.asarray(array.detach().cpu().numpy())
