"""Letterboxing: fit a frame into the network input, and map coordinates back exactly.

Coordinates are continuous pixel coordinates with pixel edges on integers (pixel ``i``
covers ``[i, i + 1)``, its centre is ``i + 0.5``). In that convention ``cv2.resize`` maps
``x_frame`` to ``x_frame * scale_x`` exactly, so :meth:`Letterbox.to_frame` is the exact
inverse of the resize plus padding. A heatmap cell ``j`` (output stride ``s``) covers input
pixels ``[j * s, (j + 1) * s)``: its centre is at ``(j + 0.5) * s``.

The image sits at ``(pad_x, pad_y)`` inside the ``in_w`` x ``in_h`` input (top-left by
default, padding right/bottom as the OpenPose models expect; centred when the spec says
``centred = true``, as YOLO models expect). Several streams with
different aspect ratios can share one batch by widening ``in_w``/``in_h`` to a common
canvas (``dataclasses.replace``): the mapping back is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streampose.arith import round_up
from streampose.errors import ConfigError

__all__ = ["FITS", "InputSpec", "Letterbox", "input_to_frame", "letterbox_into",
           "plan_for_spec", "plan_letterbox", "rebuild_letterbox"]

Transform = tuple[float, float, float, float]  # scale_x, scale_y, pad_x, pad_y

FITS = ("height", "long_side")  # what the input height fits: the frame's height or long side


class InputSpec(Protocol):
    """What letterboxing reads of a model spec (:class:`~streampose.models.spec.ModelSpec`,
    which knows the heads; the letterbox needs neither)."""

    @property
    def stride(self) -> int: ...
    @property
    def centred(self) -> bool: ...
    @property
    def fit(self) -> str: ...
    @property
    def input_height(self) -> int: ...
    @property
    def input_layout(self) -> str: ...
    @property
    def color(self) -> str: ...
    @property
    def mean(self) -> tuple[float, float, float]: ...
    @property
    def scale(self) -> tuple[float, float, float]: ...
    @property
    def pad_value(self) -> float: ...
    @property
    def is_identity_normalisation(self) -> bool: ...
    def normalise(self, pixel: float) -> tuple[float, float, float]: ...


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Where a frame sits inside the network input, and how it was scaled."""

    in_w: int  # network input size (multiples of the stride)
    in_h: int
    new_w: int  # size of the resized frame inside the input
    new_h: int
    scale_x: float  # new_w / src_w
    scale_y: float  # new_h / src_h
    pad_x: float = 0.0  # offset of the frame inside the input (whole pixels)
    pad_y: float = 0.0

    def __post_init__(self) -> None:
        whole = float(self.pad_x).is_integer() and float(self.pad_y).is_integer()
        fits_x = whole and self.pad_x >= 0 and self.new_w + self.pad_x <= self.in_w
        fits_y = self.pad_y >= 0 and self.new_h + self.pad_y <= self.in_h
        if not (self.new_w > 0 and self.new_h > 0 and fits_x and fits_y):
            raise ConfigError(
                f"Letterbox: a {self.new_w}x{self.new_h} image at ({self.pad_x}, {self.pad_y}) "
                f"does not fit a {self.in_w}x{self.in_h} input (pads must be whole pixels)"
            )

    @property
    def src_w(self) -> int:
        """Width of the original frame."""
        return round(self.new_w / self.scale_x)

    @property
    def src_h(self) -> int:
        """Height of the original frame."""
        return round(self.new_h / self.scale_y)

    @property
    def transform(self) -> Transform:
        """``(scale_x, scale_y, pad_x, pad_y)``: what an item header carries."""
        return (self.scale_x, self.scale_y, self.pad_x, self.pad_y)

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Input-pixel coordinates ``(..., 2+)`` -> original-frame pixels (a new array).

        Only the first two columns (x, y) are mapped; extra columns (confidence) are kept.
        """
        (sx, sy), (ox, oy) = input_to_frame(self.transform, centres=False)
        out = _float_copy(xy)
        out[..., 0] = out[..., 0] * sx + ox
        out[..., 1] = out[..., 1] * sy + oy
        return out


def input_to_frame(transform: Transform, *,
                   centres: bool = True) -> tuple[tuple[float, float], tuple[float, float]]:
    """The affine map ``x_frame = x_input * scale + offset`` back through a letterbox.

    Input coordinates put pixel edges on integers (input pixel ``i`` covers ``[i, i + 1)``);
    with ``centres`` the frame coordinates put pixel centres on integers (as COCO and
    drawing do), else pixel edges. Returns ``((scale_x, scale_y), (offset_x, offset_y))``.
    """
    scale_x, scale_y, pad_x, pad_y = transform
    shift = 0.5 if centres else 0.0
    return ((1 / scale_x, 1 / scale_y), (-pad_x / scale_x - shift, -pad_y / scale_y - shift))


def _float_copy(xy: np.ndarray) -> np.ndarray:
    xy = np.asarray(xy)
    if xy.ndim == 0 or xy.shape[-1] < 2:
        raise ValueError(f"expected coordinates of shape (..., 2+), got {xy.shape}")
    return xy.astype(np.result_type(xy.dtype, np.float32), copy=True)



def _scaled(length: int, num: int, den: int) -> int:
    """round(length * num / den) in integers (half up), at least 1."""
    return max(1, (2 * length * num + den) // (2 * den))


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        bad = isinstance(value, bool) or not isinstance(value, int) or value <= 0
        if value is not None and bad:
            raise ConfigError(f"plan_letterbox: {name} = {value!r} must be an integer > 0")


def plan_letterbox(*, src_w: int, src_h: int, height: int, stride: int, centred: bool = False,
                   fit: str = "height") -> Letterbox:
    """Scale a ``src_w`` x ``src_h`` frame keeping its aspect ratio.

    ``fit = "height"``: the input height is ``height`` rounded up to a multiple of
    ``stride`` and the frame fills it; the input width is the scaled width rounded up to a
    multiple of ``stride`` (1920x1080 at height 368 -> a 654x368 image in a 656x368 input).
    ``fit = "long_side"``: the frame's longer side becomes ``height`` (rounded up to the
    stride), like Ultralytics' ``imgsz`` (1920x1080 at 640 -> a 640x360 image in a 640x384
    input). ``centred`` puts the image in the middle of the input (whole-pixel pads, the
    odd pixel right/bottom) instead of the top-left corner.
    """
    _check_positive(src_w=src_w, src_h=src_h, height=height, stride=stride)
    if fit not in FITS:
        raise ConfigError(f"plan_letterbox: fit = {fit!r} (allowed: {' | '.join(FITS)})")
    size = round_up(height, stride)
    if fit == "long_side" and src_w > src_h:
        new_w, new_h = size, _scaled(src_h, size, src_w)
    else:  # the height is fitted (by choice, or as the long side)
        new_w, new_h = _scaled(src_w, size, src_h), size
    return _letterbox(src_w, src_h, new_w, new_h, stride, centred)


def plan_for_spec(spec: InputSpec, *, src_w: int, src_h: int,
                  height: int | None = None) -> Letterbox:
    """:func:`plan_letterbox` as ``spec`` asks (stride, centring, fit); ``height`` None is
    the spec's ``input_height``."""
    return plan_letterbox(src_w=src_w, src_h=src_h, height=height or spec.input_height,
                          stride=spec.stride, centred=spec.centred, fit=spec.fit)


def _letterbox(src_w: int, src_h: int, new_w: int, new_h: int, stride: int,
               centred: bool) -> Letterbox:
    in_w, in_h = round_up(new_w, stride), round_up(new_h, stride)
    return Letterbox(
        in_w=in_w,
        in_h=in_h,
        new_w=new_w,
        new_h=new_h,
        scale_x=new_w / src_w,
        scale_y=new_h / src_h,
        pad_x=float((in_w - new_w) // 2) if centred else 0.0,
        pad_y=float((in_h - new_h) // 2) if centred else 0.0,
    )


def rebuild_letterbox(*, in_hw: tuple[int, int], src_wh: tuple[int, int],
                      transform: Transform) -> Letterbox:
    """The plan behind an item header: input (H, W), frame (W, H), (sx, sy, pad_x, pad_y)."""
    scale_x, scale_y, pad_x, pad_y = transform
    return Letterbox(in_w=in_hw[1], in_h=in_hw[0], new_w=round(src_wh[0] * scale_x),
                     new_h=round(src_wh[1] * scale_y), scale_x=scale_x, scale_y=scale_y,
                     pad_x=pad_x, pad_y=pad_y)


def letterbox_into(
    image_bgr: np.ndarray, lb: Letterbox, out: np.ndarray, *, spec: InputSpec
) -> None:
    """Resize ``image_bgr`` (H, W, 3) uint8 and write the normalised network input into ``out``.

    ``out`` is float32, ``(in_h, in_w, 3)`` for NHWC specs or ``(3, in_h, in_w)`` for NCHW
    (typically one slot of a batch in a shared-memory ring). Channel order follows
    ``spec.color``; values are ``(pixel - mean) * scale``; padding gets ``pad_value``
    normalised the same way.
    """
    _check_buffers(image_bgr, lb, out, spec)
    resized = _resize(image_bgr, lb)
    nhwc = spec.input_layout == "NHWC"
    view = out if nhwc else out.transpose(1, 2, 0)  # (in_h, in_w, 3) either way
    x0, y0 = int(lb.pad_x), int(lb.pad_y)
    region = view[y0 : y0 + lb.new_h, x0 : x0 + lb.new_w]
    np.copyto(region, resized if spec.color == "BGR" else resized[..., ::-1], casting="unsafe")
    if not spec.is_identity_normalisation:
        _normalise(region, spec)
    _pad(view, lb, np.asarray(spec.normalise(spec.pad_value), dtype=np.float32))


def _check_buffers(image: np.ndarray, lb: Letterbox, out: np.ndarray, spec: InputSpec) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox_into: expected an (H, W, 3) BGR image, got {image.shape}")
    want = (lb.in_h, lb.in_w, 3) if spec.input_layout == "NHWC" else (3, lb.in_h, lb.in_w)
    if out.shape != want or out.dtype != np.float32:
        raise ValueError(
            f"letterbox_into: out must be float32 {want} for {spec.input_layout}, "
            f"got {out.dtype} {out.shape}"
        )


def _resize(image: np.ndarray, lb: Letterbox) -> np.ndarray:
    import cv2  # here, not at the top: processes that only plan letterboxes skip OpenCV

    size = (lb.new_w, lb.new_h)
    src_h, src_w = image.shape[:2]
    if lb.new_w > src_w or lb.new_h > src_h:
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    image = _halve_while_large(image, lb)
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _halve_while_large(image: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Exact 2x2 box downscales (OpenCV's fast integer INTER_AREA path) while >= 2x too big.

    INTER_AREA at a non-integer ratio is several times slower; box-halving first and then
    area-resizing the rest gives the same scale (so the same coordinate mapping) and
    pixel values within about 0.3 grey levels on average.
    """
    import cv2

    h, w = image.shape[:2]
    while w >= 2 * lb.new_w and h >= 2 * lb.new_h and w % 2 == 0 and h % 2 == 0:
        image = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    return image


def _normalise(region: np.ndarray, spec: InputSpec) -> None:
    np.subtract(region, np.asarray(spec.mean, dtype=np.float32), out=region)
    np.multiply(region, np.asarray(spec.scale, dtype=np.float32), out=region)


def _pad(view: np.ndarray, lb: Letterbox, value: np.ndarray) -> None:
    x0, y0 = int(lb.pad_x), int(lb.pad_y)
    x1, y1 = x0 + lb.new_w, y0 + lb.new_h
    view[:y0] = value
    view[y1:] = value
    view[y0:y1, :x0] = value
    view[y0:y1, x1:] = value
