"""A model-free backend for pipeline tests: cheap, deterministic maps of the right shapes.

For each image, a person stands centred on the brightest ``stride`` x ``stride`` cell of
the input. With a COCO-18 spec it is a whole person (keypoint Gaussians and limb PAFs,
:func:`streampose.backends.fake_people.render_maps`), so the pipeline's grouping finds it;
with other skeletons it is a vertical chain of keypoint peaks (keypoint ``k`` at
``k - K // 2`` cells below it) with zero PAFs. A uniform image (e.g. all black) gets
none, like an empty scene. The background channel (the last heatmap) is
``1 - max(keypoints)``. With a ``keypoints``-head spec (one-stage models) the output is
YOLO-pose style, ``[N, 5 + 3K, cells]``: the anchor of the brightest cell holds a
person (a box 60% of the input tall, score 0.9, keypoints in a vertical chain with
visibility 0.9) and the next anchor a weaker copy shifted by one pixel, which NMS
removes. ``delay_ms`` simulates a slow model (a sleep added to every call).

``latency_ms`` simulates an accelerator (``--backend fake --backend-option
latency_ms=2``): every batch takes at least that long, as a device would, the wait
being a sleep that burns no CPU and overlaps the fake's own map drawing, so the host
side's ability to feed a fast device can be measured on a machine without one.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from streampose.arith import ceil_div
from streampose.backends.base import Backend
from streampose.backends.fake_people import render_maps, standing_person
from streampose.errors import ConfigError
from streampose.heads.base import Shape
from streampose.heads.keypoints import BOX_COLUMNS, KeypointOptions
from streampose.heads.paf import PafOutputs
from streampose.models.spec import ModelSpec
from streampose.pose.skeleton import COCO18

__all__ = ["FakeBackend"]

_SIGMA_CELLS = 1.0


class FakeBackend(Backend):
    """Synthetic heatmaps/PAFs; no model file needed (``model_path`` is ignored)."""

    name = "fake"

    def __init__(
        self,
        *,
        spec: ModelSpec,
        model_path: Path | None = None,
        device: str = "cpu",
        threads: int | None = None,
        delay_ms: float = 0.0,
        latency_ms: float = 0.0,
    ) -> None:
        super().__init__(spec=spec, model_path=model_path, device=device, threads=threads)
        for key, value in (("delay_ms", delay_ms), ("latency_ms", latency_ms)):
            if not (isinstance(value, int | float) and value >= 0):
                raise ConfigError(f"fake backend: {key} = {value!r} must be a number >= 0")
        self.delay_ms = float(delay_ms)
        self.latency_ms = float(latency_ms)
        self._open = False

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if not self._open:
            raise RuntimeError("fake backend: infer() called before open()")
        self._check_batch(batch)
        done_at = time.monotonic() + self.latency_ms / 1000
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        outputs = self._outputs(batch)
        wait = done_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        return outputs

    def _outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        images = batch if self.spec.input_layout == "NHWC" else batch.transpose(0, 2, 3, 1)
        if isinstance(self.spec.head_options, KeypointOptions):
            return {self.spec.head_options.output: self._anchors(images)}
        return self._as_outputs(*self._maps(images))

    def output_shapes(self) -> dict[str, Shape]:
        kp = self.spec.head_options
        if isinstance(kp, KeypointOptions):
            return {kp.output: (None, BOX_COLUMNS + 3 * kp.keypoints, None)}
        opts = self._paf_outputs()
        channels: dict[str, int] = {}
        for ref in (opts.heatmaps, opts.pafs):
            channels[ref.output] = max(channels.get(ref.output, 0), ref.stop)
        nhwc = opts.output_layout == "NHWC"
        return {name: (None, None, None, c) if nhwc else (None, c, None, None)
                for name, c in channels.items()}

    def _paf_outputs(self) -> PafOutputs:
        opts = self.spec.head_options
        if not isinstance(opts, PafOutputs):
            raise ConfigError(f"fake backend: spec {self.spec.name} has head "
                              f"{self.spec.head!r}; the fake draws PAF maps and "
                              "keypoint-head outputs only")
        return opts

    def _as_outputs(self, heatmaps: np.ndarray, pafs: np.ndarray) -> dict[str, np.ndarray]:
        """The maps placed into the model outputs the spec names, in its layout."""
        opts, shapes = self._paf_outputs(), self.output_shapes()
        n, _, h, w = heatmaps.shape
        outputs: dict[str, np.ndarray] = {}
        for name, shape in shapes.items():
            channels = shape[3] if opts.output_layout == "NHWC" else shape[1]
            assert isinstance(channels, int)
            outputs[name] = np.zeros((n, channels, h, w), np.float32)
        for ref, maps in ((opts.heatmaps, heatmaps), (opts.pafs, pafs)):
            outputs[ref.output][:, ref.start:ref.stop] = maps
        if opts.output_layout == "NHWC":
            outputs = {k: np.ascontiguousarray(v.transpose(0, 2, 3, 1)) for k, v in outputs.items()}
        return outputs

    def _maps(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        opts = self._paf_outputs()
        num_heatmaps, num_pafs = opts.heatmaps.count, opts.pafs.count
        h, w = (ceil_div(d, self.spec.stride) for d in images.shape[1:3])
        heatmaps = np.zeros((len(images), num_heatmaps, h, w), np.float32)
        pafs = np.zeros((len(images), num_pafs, h, w), np.float32)
        whole = self.spec.skeleton == COCO18.name and num_pafs == 2 * COCO18.num_limbs
        for n, image in enumerate(images):
            cell = _brightest_cell(image, self.spec.stride)
            if whole and cell is not None:
                heatmaps[n, :COCO18.num_keypoints + 1], pafs[n] = _person_maps(cell, (h, w))
            else:
                self._draw_person(heatmaps[n], cell)
        heatmaps[:, -1] = 1.0 - heatmaps[:, :-1].max(axis=1, initial=0.0)
        return heatmaps, pafs

    def _anchors(self, images: np.ndarray) -> np.ndarray:
        """YOLO-pose style outputs ``(N, 5 + 3K, cells)``: a person on the brightest cell."""
        opts = self.spec.head_options
        assert isinstance(opts, KeypointOptions)
        stride = self.spec.stride
        in_h, in_w = images.shape[1:3]
        h, w = (ceil_div(d, stride) for d in (in_h, in_w))
        out = np.zeros((len(images), BOX_COLUMNS + 3 * opts.keypoints, h * w), np.float32)
        for n, image in enumerate(images):
            cell = _brightest_cell(image, stride)
            if cell is None:
                continue
            anchor = cell[0] * w + cell[1]
            x, y = (cell[1] + 0.5) * stride, (cell[0] + 0.5) * stride
            out[n, :, anchor] = _anchor_person(x, y, 0.6 * in_h, opts.keypoints, 0.9)
            out[n, :, (anchor + 1) % (h * w)] = _anchor_person(x + 1, y, 0.6 * in_h,
                                                               opts.keypoints, 0.5)
        return out

    def _draw_person(self, maps: np.ndarray, cell: tuple[int, int] | None) -> None:
        if cell is None:
            return
        h, w = maps.shape[1:]
        keypoints = maps.shape[0] - 1
        ys, xs = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)
        for k in range(keypoints):
            cy = min(max(cell[0] + k - keypoints // 2, 0), h - 1)
            d2 = (ys - cy) ** 2 + (xs - cell[1]) ** 2
            maps[k] = np.exp(-d2 / (2 * _SIGMA_CELLS**2))


def _anchor_person(x: float, y: float, height: float, keypoints: int, score: float
                   ) -> np.ndarray:
    """One anchor's column: box (centre x, centre y, w, h), score, keypoints (x, y, v)."""
    top = y - height / 2
    kp = np.zeros((keypoints, 3), np.float32)
    kp[:, 0] = x
    kp[:, 1] = top + (np.arange(keypoints) + 0.5) * height / keypoints
    kp[:, 2] = 0.9
    return np.concatenate([[x, y, 0.4 * height, height, score], kp.ravel()]).astype(np.float32)


@functools.lru_cache(maxsize=512)
def _person_maps(cell: tuple[int, int], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Maps of a standing person centred on ``cell``, 60% of the map's height tall
    (cached: the host should spend little on a simulated device; callers copy them)."""
    height = max(6.0, 0.6 * shape[0])
    person = standing_person(x=float(cell[1]), top=cell[0] - height / 2, height=height)
    return render_maps([person], shape=shape)


def _brightest_cell(image: np.ndarray, stride: int) -> tuple[int, int] | None:
    """(row, col) of the brightest stride x stride cell of an (H, W, 3) image; None if flat."""
    crop = image[: image.shape[0] // stride * stride, : image.shape[1] // stride * stride]
    gray = crop[..., 0] + crop[..., 1]  # what sum(axis=2) gives, bit for bit, 10x faster
    gray += crop[..., 2]
    if gray.size == 0 or gray.max() == gray.min():
        return None
    cells = gray.reshape(gray.shape[0] // stride, stride, -1, stride).sum(axis=(1, 3))
    row, col = np.unravel_index(int(np.argmax(cells)), cells.shape)
    return int(row), int(col)
