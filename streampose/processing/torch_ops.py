"""Pre- and post-processing on the inference device, around any backend (needs torch).

With device ops on, the infer stage reads each decoded frame (uint8, full size) straight
from the decoder's shared-memory ring, uploads it as uint8 (through a pinned buffer on
CUDA), and letterboxes and normalises it there. After the network, peak NMS runs there
too (a max-pool plus the tie rule of :func:`streampose.pose.peaks.find_peaks`), so only
the peak table and the PAFs in fp16 come back to the host: about a third of the bytes of
float32 heatmaps plus PAFs.

The results match the host path: peaks are the same as ``find_peaks`` on the same maps
(tested to 1e-6), and the resize is OpenCV's INTER_AREA geometry (pixel edges on
integers) with an antialiased bilinear filter, within 0.4 grey levels of it on average on
1080p video.

Backends that run on torch tensors (torch, TensorRT) implement ``infer_tensor`` and the
batch never leaves the device; any other backend gets the batch as a numpy array (used
with ONNX Runtime on the CPU to check accuracy against the host path).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox

__all__ = ["DeviceMaps", "DeviceOps", "device_peaks", "find_peaks_tensor", "letterbox_tensor"]

log = logging.getLogger(__name__)

PEAK_COLUMNS = 4  # kind, x, y, score
MAX_PINNED_SHAPES = 8  # pinned upload buffers kept, one per frame size


@dataclass(frozen=True)
class DeviceMaps:
    """What comes back per batch: fp16 PAFs ``(N, 2L, h, w)`` and each image's peak table.

    ``peaks[i]`` is float32 ``(n_i, 4)``: keypoint kind, x, y (sub-pixel, map pixels with
    centres on integers) and score, sorted by kind then raster order.
    """

    pafs: np.ndarray
    peaks: list[np.ndarray]

    @property
    def nbytes(self) -> int:
        """Bytes copied back to the host for this batch."""
        return int(self.pafs.nbytes + sum(p.nbytes for p in self.peaks))


class DeviceOps:
    """Letterbox + normalise before the network, and the network, on ``device``."""

    def __init__(self, spec: ModelSpec, *, device: str | torch.device) -> None:
        self.spec, self.device = spec, torch.device(device)
        mean = torch.tensor(spec.mean, dtype=torch.float32).view(3, 1, 1)
        scale = torch.tensor(spec.scale, dtype=torch.float32).view(3, 1, 1)
        self._mean, self._scale = mean.to(self.device), scale.to(self.device)
        self._pad = torch.tensor(spec.normalise(spec.pad_value), dtype=torch.float32)
        self._pad = self._pad.view(3, 1, 1).to(self.device)
        self._pinned: dict[tuple[int, ...], torch.Tensor] = {}  # (H, W, 3) -> (n, H, W, 3)
        self._uploaded: Any = None  # CUDA event: the last batch's uploads are done

    # -- before the network ----------------------------------------------------------------

    @torch.inference_mode()
    def prepare(self, frames: Sequence[np.ndarray], plans: Sequence[Letterbox]) -> torch.Tensor:
        """uint8 BGR frames ``(H, W, 3)`` -> the normalised float32 input batch on the device.

        All plans must share the input size; the batch is in the spec's input layout.
        """
        if len(frames) != len(plans) or not frames:
            raise ValueError("DeviceOps.prepare: give one plan per frame (at least one)")
        in_h, in_w = plans[0].in_h, plans[0].in_w
        if any((lb.in_h, lb.in_w) != (in_h, in_w) for lb in plans):
            raise ValueError("DeviceOps.prepare: all plans must share one input size")
        batch = torch.empty((len(frames), 3, in_h, in_w), dtype=torch.float32,
                            device=self.device)
        if self._uploaded is not None:  # the pinned buffers are free again
            self._uploaded.synchronize()
        for i, (frame, lb) in enumerate(zip(frames, plans, strict=True)):
            letterbox_tensor(self._upload(frame, i, len(frames)), lb, batch[i], self.spec,
                             mean=self._mean, scale=self._scale, pad=self._pad)
        if self.device.type == "cuda":
            self._uploaded = torch.cuda.Event()
            self._uploaded.record(torch.cuda.current_stream(self.device))
        if self.spec.input_layout == "NHWC":
            return batch.permute(0, 2, 3, 1).contiguous()
        return batch

    def _upload(self, frame: np.ndarray, index: int, count: int) -> torch.Tensor:
        """The frame on the device. On CUDA each frame of a batch gets its own pinned slot,
        so a non-blocking copy is never overwritten before it has been read."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"DeviceOps: expected a uint8 (H, W, 3) frame, got {frame.dtype} "
                             f"{frame.shape}")
        host = torch.from_numpy(frame)
        if self.device.type != "cuda":
            return host
        pinned = self._pinned.get(frame.shape)
        if pinned is None or len(pinned) < count:
            if len(self._pinned) >= MAX_PINNED_SHAPES:  # e.g. a camera changing resolution
                self._pinned.pop(next(iter(self._pinned)))
            pinned = torch.empty((count, *frame.shape), dtype=torch.uint8, pin_memory=True)
            self._pinned[frame.shape] = pinned
        pinned[index].copy_(host)
        return pinned[index].to(self.device, non_blocking=True)

    # -- the network -------------------------------------------------------------------------

    def forward(self, backend: Any, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run ``backend`` on the device batch: its named outputs as tensors on the device
        (``infer_tensor`` if it has one, else a round trip through numpy)."""
        run = getattr(backend, "infer_tensor", None)
        if run is not None:
            outputs: dict[str, torch.Tensor] = run(x)
            return outputs
        arrays = backend.infer(np.ascontiguousarray(x.cpu().numpy()))
        return {name: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
                for name, a in arrays.items()}



@torch.inference_mode()
def device_peaks(heatmaps: torch.Tensor, pafs: torch.Tensor, *, keypoints: int,
                 threshold: float, radius: int = 1, subpixel: bool = True) -> DeviceMaps:
    """Peak NMS of the first ``keypoints`` heatmap channels (NCHW) where they are; the
    fp16 PAFs and each image's peak table come back to the host."""
    finite = torch.nan_to_num(heatmaps[:, :keypoints].float(), nan=0.0, posinf=0.0,
                              neginf=0.0)
    counts, table = find_peaks_tensor(finite, threshold=threshold, radius=radius,
                                      subpixel=subpixel)
    pafs_host = pafs.to(torch.float16).cpu().numpy()
    rows = table.cpu().numpy()
    splits = np.cumsum(counts.cpu().numpy())[:-1]
    return DeviceMaps(pafs=pafs_host, peaks=np.split(rows, splits))


def letterbox_tensor(frame: torch.Tensor, lb: Letterbox, out: torch.Tensor, spec: ModelSpec, *,
                     mean: torch.Tensor, scale: torch.Tensor, pad: torch.Tensor) -> None:
    """Resize a uint8 ``(H, W, 3)`` BGR frame into ``out`` (float32 ``(3, in_h, in_w)``).

    Same geometry as :func:`streampose.pose.letterbox.letterbox_into` (``align_corners``
    off is OpenCV's pixel-edge convention); downscales are antialiased. ``mean``/``scale``/
    ``pad`` are ``(3, 1, 1)`` tensors on ``out``'s device, in the network's channel order.
    """
    image = frame.to(out.device, non_blocking=True).permute(2, 0, 1).float()
    if spec.color == "RGB":
        image = image.flip(0)
    image = _halve_while_large(image, lb)
    src_h, src_w = image.shape[1:]
    if (src_h, src_w) != (lb.new_h, lb.new_w):
        shrink = lb.new_w < src_w or lb.new_h < src_h
        image = F.interpolate(image[None], size=(lb.new_h, lb.new_w), mode="bilinear",
                              align_corners=False, antialias=shrink)[0]
    x0, y0 = int(lb.pad_x), int(lb.pad_y)
    out.copy_(pad.expand_as(out))
    out[:, y0 : y0 + lb.new_h, x0 : x0 + lb.new_w] = image.sub_(mean).mul_(scale)


def _halve_while_large(image: torch.Tensor, lb: Letterbox) -> torch.Tensor:
    """Exact 2x2 box averages while the frame is >= 4x too big (even sizes only, so the
    geometry is unchanged): CUDA's antialiased resize has a limit on the shrink factor."""
    h, w = image.shape[1:]
    while w >= 4 * lb.new_w and h >= 4 * lb.new_h and w % 2 == 0 and h % 2 == 0:
        image = F.avg_pool2d(image[None], 2)[0]
        h, w = image.shape[1:]
    return image


def find_peaks_tensor(heatmaps: torch.Tensor, *, threshold: float, radius: int = 1,
                      subpixel: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched :func:`~streampose.pose.peaks.find_peaks` on float32 ``(N, K, h, w)`` maps.

    Returns ``(counts (N,), table (n, 4))``: the peaks of image ``i`` are the next
    ``counts[i]`` rows of ``table`` (kind, x, y, score), in ``find_peaks``'s order.
    """
    n = heatmaps.shape[0]
    size = 2 * radius + 1
    pooled = F.max_pool2d(heatmaps, size, stride=1, padding=radius)
    mask = (heatmaps >= pooled) & (heatmaps > threshold)
    keep = mask & ~_tied_with_earlier(heatmaps, mask, radius)
    b, k, y, x = keep.nonzero(as_tuple=True)
    score = heatmaps[b, k, y, x]
    xs, ys = x.float(), y.float()
    if subpixel and b.numel():
        dx, dy = _subpixel(heatmaps, b, k, y, x, score)
        xs, ys = xs + dx, ys + dy
    table = torch.stack([k.float(), xs, ys, score], dim=1)
    return torch.bincount(b, minlength=n), table


def _tied_with_earlier(heatmaps: torch.Tensor, mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Cells with an equal-valued candidate earlier in raster order inside their window."""
    h, w = heatmaps.shape[2:]
    r = radius
    padded = F.pad(heatmaps, (r, r, r, r))
    padded_mask = F.pad(mask, (r, r, r, r))
    tied = torch.zeros_like(mask)
    for dy in range(-r, 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx >= 0:
                break
            rows, cols = slice(r + dy, r + dy + h), slice(r + dx, r + dx + w)
            tied |= padded_mask[..., rows, cols] & (padded[..., rows, cols] == heatmaps)
    return tied


def _subpixel(heatmaps: torch.Tensor, b: torch.Tensor, k: torch.Tensor, y: torch.Tensor,
              x: torch.Tensor, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quadratic vertex offsets along x and y (none on the border), as in find_peaks."""
    h, w = heatmaps.shape[2:]
    p = F.pad(heatmaps, (1, 1, 1, 1))
    dx = _vertex(p[b, k, y + 1, x], centre, p[b, k, y + 1, x + 2])
    dy = _vertex(p[b, k, y, x + 1], centre, p[b, k, y + 2, x + 1])
    dx = torch.where((x == 0) | (x == w - 1), torch.zeros_like(dx), dx)
    dy = torch.where((y == 0) | (y == h - 1), torch.zeros_like(dy), dy)
    return dx, dy


def _vertex(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    curvature = a - 2.0 * b + c
    bent = curvature < 0
    safe = torch.where(bent, curvature, torch.full_like(curvature, -1.0))
    offset = torch.where(bent, 0.5 * (a - c) / safe, torch.zeros_like(curvature))
    return offset.clamp(-0.5, 0.5)
