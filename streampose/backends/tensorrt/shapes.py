"""Input shapes and the engine's optimization profile (pure: no TensorRT, no GPU).

One profile on the input tensor: batch min 1, opt ``max(1, max_batch // 2)``, max
``max_batch`` (all equal to the model's batch when the ONNX batch dimension is static);
height and width fixed to the size the engine is built for (a size that is static in the
ONNX model must match it).
"""

from __future__ import annotations

from collections.abc import Sequence

from streampose.errors import ModelError

__all__ = ["HW", "Shape", "profile_shapes", "shape_hw"]

Shape = tuple[int, ...]
HW = tuple[int, int]


def profile_shapes(network_shape: Sequence[int], layout: str, hw: HW,
                   max_batch: int) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) input shapes for the profile; -1 marks a dynamic ONNX dimension.

    Batch: 1 / max(1, max_batch // 2) / max_batch, or the static batch. Height and width:
    ``hw``; a static ONNX size must equal it. Channels: the static value, or 3.
    """
    dims = tuple(int(d) for d in network_shape)
    if len(dims) != 4:
        raise ModelError(f"model input has shape {list(dims)}; expected a 4-D {layout} batch")
    h_axis, w_axis, c_axis = (1, 2, 3) if layout == "NHWC" else (2, 3, 1)
    for axis, wanted, what in ((h_axis, hw[0], "height"), (w_axis, hw[1], "width")):
        if dims[axis] >= 0 and dims[axis] != wanted:
            raise ModelError(f"model input has static {what} {dims[axis]} (shape "
                             f"{list(dims)}, {layout}), but {wanted} was asked for")
    channels = dims[c_axis] if dims[c_axis] >= 0 else 3
    low, opt, high = (dims[0],) * 3 if dims[0] >= 0 else (1, max(1, max_batch // 2), max_batch)
    return (_shape(layout, low, hw, channels), _shape(layout, opt, hw, channels),
            _shape(layout, high, hw, channels))


def _shape(layout: str, batch: int, hw: HW, channels: int) -> Shape:
    if layout == "NHWC":
        return (batch, hw[0], hw[1], channels)
    return (batch, channels, hw[0], hw[1])


def shape_hw(shape: Sequence[int], layout: str) -> HW:
    """(height, width) of a 4-D input shape in ``layout``."""
    h, w = (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])
    return (int(h), int(w))
