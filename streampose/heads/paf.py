"""The ``paf`` head: OpenPose-style keypoint heatmaps + part affinity fields.

Spec keys (besides the generic ones, see :mod:`streampose.models.spec`)::

    output_layout = "NHWC"                       # layout of the map outputs (or "NCHW")
    [heatmaps]                                   # K keypoint channels (+ 1 background)
    output = "Openpose/concat_stage7:0"
    channels = [0, 19]                           # [start, stop), like a Python slice
    [pafs]                                       # 2 channels (x, y) per limb
    output = "Openpose/concat_stage7:0"
    channels = [19, 57]

On the host a frame's payload is its heatmaps and PAFs as one float32 array; decoding is
greedy PAF grouping (:class:`~streampose.pose.decoder.PafDecoder`). With device
processing (``--device-ops``) the peaks are found on the inference device and only fp16
PAFs plus the peak table come back (:mod:`streampose.heads.peak_payload`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from streampose.arith import ceil_div
from streampose.config.sections import DecoderThresholds
from streampose.errors import ModelError
from streampose.heads.base import Head, HeadSettings, Payload, Shape, as_numpy
from streampose.heads.peak_payload import (
    peak_payload_bytes,
    read_peak_payload,
    write_peak_payload,
)
from streampose.models.spec import LAYOUTS, ModelSpec, OutputRef, check_keys, choice, fail
from streampose.pose.decoder import PafDecoder
from streampose.pose.letterbox import Letterbox
from streampose.pose.peaks import Peaks
from streampose.pose.poses import Poses

if TYPE_CHECKING:
    from streampose.transport.messages import FrameHeader
    from streampose.transport.ring import SharedRing

__all__ = ["MapsPayload", "PafHead", "PafOutputs", "PeaksPayload"]

_KEYS = ("output_layout", "heatmaps", "pafs")


@dataclass(frozen=True)
class PafOutputs:
    """Where a PAF network's heatmaps and PAFs are."""

    output_layout: str
    heatmaps: OutputRef
    pafs: OutputRef


@dataclass(frozen=True)
class MapsPayload(Payload):
    """One frame's heatmaps ``(K', h, w)`` and PAFs ``(2L, h, w)``, stored as one array."""

    heatmaps: np.ndarray
    pafs: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.heatmaps.nbytes + self.pafs.nbytes)

    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        k = self.heatmaps.shape[0]
        shape = (k + self.pafs.shape[0], *self.heatmaps.shape[1:])
        view = ring.array(slot, shape, "float32")
        view[:k] = self.heatmaps
        view[k:] = self.pafs
        return shape, "float32"


@dataclass(frozen=True)
class PeaksPayload(Payload):
    """One frame's fp16 PAFs ``(2L, h, w)`` and its peak table ``(n, 4)`` (device peaks)."""

    pafs: np.ndarray
    peaks: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.pafs.nbytes + self.peaks.nbytes)

    def write(self, ring: SharedRing, slot: int) -> tuple[tuple[int, ...], str]:
        write_peak_payload(ring.array(slot, (ring.slot_bytes,), "uint8"), self.pafs, self.peaks)
        return self.pafs.shape, "float16"


class PafHead(Head):
    """Heatmaps + PAFs -> people, by greedy PAF grouping (OpenPose)."""

    name = "paf"
    supports_device = True  # peak NMS can run on the inference device (torch)

    def __init__(self, spec: ModelSpec, settings: HeadSettings | None = None) -> None:
        super().__init__(spec, settings)
        if not self.skeleton.has_pafs:
            raise ModelError(f"model spec {spec.source}: skeleton {self.skeleton.name} has no "
                             "PAF layout, so the paf head cannot decode it; use a head for "
                             "that skeleton (e.g. head = \"keypoints\")")
        k = self.skeleton.num_keypoints
        if self.num_heatmaps not in (k, k + 1):
            raise ModelError(f"model spec {spec.source}: heatmaps.channels gives "
                             f"{self.num_heatmaps} channels; skeleton {self.skeleton.name} "
                             f"has {k} keypoints (+ 1 background)")

    @classmethod
    def parse_options(cls, table: Mapping[str, Any], *, source: str) -> PafOutputs:
        check_keys(table, _KEYS, source, "")
        missing = [key for key in _KEYS if key not in table]
        if missing:
            raise ModelError(f"{source}: missing key(s) {', '.join(map(repr, missing))} "
                             "(the paf head reads them)")
        heatmaps = OutputRef.from_dict(table["heatmaps"], field="heatmaps", source=source)
        pafs = OutputRef.from_dict(table["pafs"], field="pafs", source=source)
        _check_refs(heatmaps, pafs, source)
        return PafOutputs(choice(table, "output_layout", LAYOUTS, source), heatmaps, pafs)

    @property
    def options(self) -> PafOutputs:
        opts: PafOutputs = self.spec.head_options
        return opts

    @property
    def thresholds(self) -> DecoderThresholds:
        value = self.settings.get("paf")
        return value if isinstance(value, DecoderThresholds) else DecoderThresholds()

    @property
    def num_heatmaps(self) -> int:
        """Heatmap channels, background included (K + 1)."""
        return self.options.heatmaps.count

    @property
    def num_pafs(self) -> int:
        """PAF channels (2 per limb)."""
        return self.options.pafs.count

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([self.options.heatmaps.output, self.options.pafs.output]))

    def check_outputs(self, shapes: Mapping[str, Shape], *, model: str) -> None:
        for field, ref in (("heatmaps", self.options.heatmaps), ("pafs", self.options.pafs)):
            _check_output(shapes, field, ref, self.options.output_layout, self.spec.source,
                          model)

    # -- payloads -------------------------------------------------------------------------

    def payload_bytes(self, plans: Iterable[Letterbox]) -> int:
        sizes = [(ceil_div(lb.in_h, self.spec.stride), ceil_div(lb.in_w, self.spec.stride))
                 for lb in plans]
        if self.on_device:
            radius = self.thresholds.nms_radius
            return max(peak_payload_bytes(self.num_pafs, h, w, radius=radius,
                                          keypoints=self.skeleton.num_keypoints)
                       for h, w in sizes)
        return max(h * w for h, w in sizes) * (self.num_heatmaps + self.num_pafs) * 4

    def payloads(self, outputs: Mapping[str, Any], count: int) -> Sequence[Payload]:
        heatmaps = self._channels(outputs, self.options.heatmaps)
        pafs = self._channels(outputs, self.options.pafs)
        if self.on_device:
            return self._device_payloads(heatmaps, pafs)
        maps, fields = as_numpy(heatmaps), as_numpy(pafs)
        return [MapsPayload(np.ascontiguousarray(maps[i], np.float32),
                            np.ascontiguousarray(fields[i], np.float32)) for i in range(count)]

    def _channels(self, outputs: Mapping[str, Any], ref: OutputRef) -> Any:
        """NCHW channels ``ref`` of a numpy array or a torch tensor (a view where possible).

        Checked on every batch: a model with a dynamic channel axis passes
        :meth:`check_outputs` and could otherwise give fewer channels than the spec reads."""
        array = outputs[ref.output]
        layout = self.options.output_layout
        if array.ndim != 4 or array.shape[3 if layout == "NHWC" else 1] < ref.stop:
            raise ModelError(f"model output {ref.output!r} has shape {tuple(array.shape)} "
                             f"({layout}); spec {self.spec.source} reads channels "
                             f"[{ref.start}, {ref.stop})")
        if layout == "NCHW":
            return array[:, ref.start:ref.stop]
        part = array[..., ref.start:ref.stop]
        return part.permute(0, 3, 1, 2) if hasattr(part, "permute") else part.transpose(0, 3, 1, 2)

    def _device_payloads(self, heatmaps: Any, pafs: Any) -> list[Payload]:
        from streampose.processing.torch_ops import device_peaks

        t = self.thresholds
        maps = device_peaks(heatmaps, pafs, keypoints=self.skeleton.num_keypoints,
                            threshold=t.peak_threshold, radius=t.nms_radius,
                            subpixel=t.subpixel)
        return [PeaksPayload(maps.pafs[i], maps.peaks[i]) for i in range(len(maps.peaks))]

    # -- decoding -------------------------------------------------------------------------

    def decode(self, ring: SharedRing, slot: int, header: FrameHeader) -> Poses:
        decoder = self._decoder()
        if header.dtype == "float16":  # device peaks
            pafs, table = read_peak_payload(ring.array(slot, (ring.slot_bytes,), "uint8"),
                                            header)
            peaks = Peaks.from_table(table, self.skeleton.num_keypoints)
            poses = decoder.from_peaks(peaks, pafs)
        else:
            maps = ring.view(slot, header.shape, header.dtype)
            k = self.num_heatmaps
            poses = decoder(maps[:k], maps[k:])
        s = self.spec.stride  # map cell j covers input pixels [j * s, (j + 1) * s)
        return poses.transformed(scale=(s, s), offset=(s / 2, s / 2))

    def _decoder(self) -> PafDecoder:
        decoder: PafDecoder | None = getattr(self, "_paf_decoder", None)
        if decoder is None:
            decoder = self._paf_decoder = PafDecoder(self.skeleton, self.thresholds)
        return decoder


def _check_refs(heatmaps: OutputRef, pafs: OutputRef, source: str) -> None:
    if pafs.count % 2:
        raise fail(source, "pafs.channels", [pafs.start, pafs.stop],
                   "an even number of channels (x, y per limb)")
    if heatmaps.output == pafs.output and heatmaps.start < pafs.stop \
            and pafs.start < heatmaps.stop:
        raise ModelError(f"{source}: heatmaps.channels [{heatmaps.start}, {heatmaps.stop}] and "
                         f"pafs.channels [{pafs.start}, {pafs.stop}] overlap in output "
                         f"{heatmaps.output!r}")


def _check_output(shapes: Mapping[str, Shape], field: str, ref: OutputRef, layout: str,
                  source: str, model: str) -> None:
    if ref.output not in shapes:
        raise ModelError(f"model {model} has no output {ref.output!r} ({field}.output in spec "
                         f"{source}); its outputs are: {', '.join(map(repr, shapes))}")
    shape = shapes[ref.output]
    if len(shape) != 4:
        raise ModelError(f"model {model}: output {ref.output!r} has shape {list(shape)}, but "
                         f"{field} in spec {source} reads 4-D {layout} maps")
    channels = shape[3 if layout == "NHWC" else 1]
    if isinstance(channels, int) and channels < ref.stop:
        raise ModelError(f"model {model}: output has shape {list(shape)} ({layout}), only "
                         f"{channels} channels, but {field}.channels in spec {source} ends at "
                         f"{ref.stop}")
