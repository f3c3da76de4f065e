"""Device ops (torch kernels): letterbox and peak NMS in torch, run here on the CPU.

The CUDA path runs the same torch code on another device (see the gpu-marked tests of
the backends); these tests compare the torch kernels with the host implementations.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="device ops run on torch")

from streampose.backends import create_backend  # noqa: E402
from streampose.backends.fake_people import crowd, render_maps  # noqa: E402
from streampose.heads.peak_payload import max_peaks  # noqa: E402
from streampose.models import architecture_spec  # noqa: E402
from streampose.models.spec import ModelSpec, builtin_specs  # noqa: E402
from streampose.pose import COCO18, PafDecoder  # noqa: E402
from streampose.pose.letterbox import letterbox_into, plan_letterbox  # noqa: E402
from streampose.pose.peaks import Peaks, find_peaks  # noqa: E402
from streampose.processing.torch_ops import (  # noqa: E402
    DeviceOps,
    device_peaks,
    find_peaks_tensor,
    letterbox_tensor,
)
from tests.support.shared import shared_file  # noqa: E402

SHARED_SPEC = builtin_specs()["openpose-mnv2s-coco18"]  # NHWC, pixel values as they are
TORCH_SPEC = ModelSpec.from_dict(architecture_spec("lightweight-openpose"))  # NCHW


def tables(counts: torch.Tensor, table: torch.Tensor) -> list[np.ndarray]:
    return np.split(table.numpy(), np.cumsum(counts.numpy())[:-1])


# -- peaks ----------------------------------------------------------------------------------


def maps_cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    noise = rng.random((3, 18, 23, 31)).astype(np.float32)
    people = crowd(12, shape=(46, 82), height=30.0, seed=3)
    heatmaps, _ = render_maps(people, shape=(46, 82))
    return [
        ("noise", noise),
        ("plateaus", np.round(noise * 6) / 6),  # exact ties everywhere
        ("fp16", noise.astype(np.float16).astype(np.float32)),
        ("crowd", np.stack([heatmaps[:18], heatmaps[:18][:, ::-1].copy()])),
        ("empty", np.zeros((2, 18, 9, 9), np.float32)),
    ]


@pytest.mark.parametrize("radius", [1, 2])
@pytest.mark.parametrize("subpixel", [True, False])
@pytest.mark.parametrize(("name", "maps"), maps_cases(), ids=[c[0] for c in maps_cases()])
def test_device_peaks_equal_find_peaks(name: str, maps: np.ndarray, radius: int,
                                       subpixel: bool) -> None:
    counts, table = find_peaks_tensor(torch.from_numpy(maps), threshold=0.3, radius=radius,
                                      subpixel=subpixel)
    assert counts.shape == (len(maps),)
    for image, rows in zip(maps, tables(counts, table), strict=True):
        want = find_peaks(image, threshold=0.3, radius=radius, subpixel=subpixel)
        got = Peaks.from_table(rows, image.shape[0])
        np.testing.assert_array_equal(got.kind, want.kind)
        np.testing.assert_array_equal(got.start, want.start)
        np.testing.assert_array_equal(got.score, want.score)
        np.testing.assert_allclose(got.xy, want.xy, atol=1e-6)
    if name == "crowd":
        assert counts.min() > 100  # the case has real content


def test_peak_table_is_checked() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Peaks.from_table(np.array([[3, 0, 0, 1], [1, 0, 0, 1]], np.float32), 18)
    with pytest.raises(ValueError, match=r"\[0, 18\)"):
        Peaks.from_table(np.array([[18, 0, 0, 1]], np.float32), 18)
    assert Peaks.from_table(np.zeros((0, 4), np.float32), 18).start.tolist() == [0] * 19


def test_grouping_from_device_peaks_equals_grouping_from_maps() -> None:
    people = crowd(8, shape=(46, 82), height=30.0, seed=1)
    heatmaps, pafs = render_maps(people, shape=(46, 82))
    decoder = PafDecoder(COCO18)
    want = decoder(heatmaps, pafs)
    _, table = find_peaks_tensor(torch.from_numpy(heatmaps[None, :18]), threshold=0.05)
    got = decoder.from_peaks(Peaks.from_table(table.numpy(), 18), pafs.astype(np.float16))
    assert len(want) == 8 and len(got) == len(want)
    np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3)


def test_nms_never_returns_more_peaks_than_the_bound() -> None:
    """A checkerboard of equal values is the densest case: ties leave one per window."""
    for radius in (1, 2):
        maps = np.ones((1, 2, 11, 13), np.float32)
        counts, _ = find_peaks_tensor(torch.from_numpy(maps), threshold=0.5, radius=radius)
        assert 0 < int(counts[0]) <= max_peaks(2, 11, 13, radius)


# -- letterbox ------------------------------------------------------------------------------


def device_letterbox(frame: np.ndarray, lb, spec: ModelSpec) -> np.ndarray:
    ops = DeviceOps(spec, device="cpu")
    return ops.prepare([frame], [lb])[0].numpy()


def host_letterbox(frame: np.ndarray, lb, spec: ModelSpec) -> np.ndarray:
    out = np.zeros(spec.input_shape(1, lb.in_h, lb.in_w)[1:], np.float32)
    letterbox_into(frame, lb, out, spec=spec)
    return out


@pytest.mark.parametrize("spec", [SHARED_SPEC, TORCH_SPEC], ids=["nhwc", "nchw"])
@pytest.mark.parametrize("size", [(200, 120), (64, 100), (40, 30)])  # shrink, tall, enlarge
def test_device_letterbox_matches_the_host_one(spec: ModelSpec, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    small = rng.integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    frame = np.ascontiguousarray(np.kron(small, np.ones((8, 8, 1), np.uint8))[:size[1], :size[0]])
    lb = plan_letterbox(src_w=size[0], src_h=size[1], height=64, stride=8)
    host, device = host_letterbox(frame, lb, spec), device_letterbox(frame, lb, spec)
    assert device.shape == host.shape and device.dtype == np.float32
    hwc = device if spec.input_layout == "NHWC" else device.transpose(1, 2, 0)
    ref = host if spec.input_layout == "NHWC" else host.transpose(1, 2, 0)
    pad_rows = ref[lb.new_h:], hwc[lb.new_h:]
    np.testing.assert_array_equal(*pad_rows)  # padding is exact
    np.testing.assert_array_equal(ref[:, lb.new_w:], hwc[:, lb.new_w:])
    grey = 1.0 / abs(spec.scale[0]) if spec.scale[0] else 1.0
    diff = np.abs(ref[:lb.new_h, :lb.new_w] - hwc[:lb.new_h, :lb.new_w]) * grey
    assert diff.mean() < 6.0  # grey levels; blocky random content is the worst case
    assert np.median(diff) < 2.0


@pytest.mark.parametrize("height", [368, 32])  # 32: 2x2 box steps before the resize
def test_device_letterbox_keeps_the_geometry(height: int) -> None:
    """A bright square's centroid lands where the forward letterbox maps it (pixel edges)."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[496:512, 1000:1016] = 255
    lb = plan_letterbox(src_w=1920, src_h=1080, height=height, stride=8)
    image = device_letterbox(frame, lb, TORCH_SPEC)[0, : lb.new_h, : lb.new_w]
    image = image - image.min()  # black -> 0
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    centroid = np.array([(xs * image).sum(), (ys * image).sum()]) / image.sum()
    want = np.array([1008.0 * lb.scale_x + lb.pad_x, 504.0 * lb.scale_y + lb.pad_y]) - 0.5
    np.testing.assert_allclose(centroid, want, atol=0.02)


@pytest.mark.shared
def test_device_letterbox_on_a_real_1080p_frame() -> None:
    with av.open(str(shared_file("media/vtest_1080p_300f.mp4"))) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    lb = plan_letterbox(src_w=1920, src_h=1080, height=368, stride=8)
    host, device = host_letterbox(frame, lb, SHARED_SPEC), device_letterbox(frame, lb,
                                                                            SHARED_SPEC)
    diff = np.abs(host - device)[:lb.new_h, :lb.new_w] / SHARED_SPEC.scale[0]  # grey levels
    print(f"device vs host letterbox, 1080p vtest: mean {diff.mean():.2f} grey levels")
    assert diff.mean() < 0.6


def test_letterbox_tensor_flips_to_rgb() -> None:
    spec = ModelSpec.from_dict({**architecture_spec("lightweight-openpose"), "color": "RGB",
                                "mean": (0.0, 0.0, 0.0), "scale": (1.0, 1.0, 1.0)})
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0] = 200  # blue in BGR
    lb = plan_letterbox(src_w=8, src_h=8, height=8, stride=8)
    out = torch.zeros((3, 8, 8))
    zeros = torch.zeros((3, 1, 1))
    letterbox_tensor(torch.from_numpy(frame), lb, out, spec, mean=zeros, scale=zeros + 1,
                     pad=zeros)
    assert out[2].eq(200).all() and out[:2].eq(0).all()


def test_prepare_checks_its_input() -> None:
    ops = DeviceOps(TORCH_SPEC, device="cpu")
    a = plan_letterbox(src_w=64, src_h=64, height=64, stride=8)
    b = plan_letterbox(src_w=128, src_h=64, height=64, stride=8)
    frame = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="one input size"):
        ops.prepare([frame, frame], [a, b])
    with pytest.raises(ValueError, match="one plan per frame"):
        ops.prepare([frame], [a, a])
    with pytest.raises(ValueError, match="uint8"):
        ops.prepare([frame.astype(np.float32)], [a])


# -- backends -------------------------------------------------------------------------------


def test_torch_backend_infer_tensor_equals_infer() -> None:
    batch = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 3, 32, 48)).astype(np.float32)
    with create_backend("torch", spec=TORCH_SPEC, model_path=None, threads=1) as backend:
        want = backend.infer(batch)
        got = backend.infer_tensor(torch.from_numpy(batch))
        assert backend.tensor_device == torch.device("cpu")
    assert list(got) == list(want) == ["heatmaps", "pafs"]
    for name, tensor in got.items():
        assert isinstance(tensor, torch.Tensor)
        np.testing.assert_allclose(tensor.numpy(), want[name], atol=1e-6)


def test_device_peaks_returns_fp16_pafs_and_the_peaks() -> None:
    people = crowd(5, shape=(46, 82), height=30.0, seed=5)
    heatmaps, pafs = render_maps(people, shape=(46, 82))
    result = device_peaks(torch.from_numpy(heatmaps[None]), torch.from_numpy(pafs[None]),
                          keypoints=18, threshold=0.05)
    assert result.pafs.dtype == np.float16 and result.pafs.shape == (1, 38, 46, 82)
    np.testing.assert_allclose(result.pafs[0], pafs, atol=1e-3)
    want = find_peaks(heatmaps[:18], threshold=0.05)
    assert len(result.peaks) == 1 and len(result.peaks[0]) == len(want.kind) > 40
    assert result.nbytes == result.pafs.nbytes + result.peaks[0].nbytes


class _NumpyOnly:
    """A backend without ``infer_tensor``: DeviceOps.forward goes through numpy."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.seen.append(batch)
        return {"first": batch[:, :2] * 2, "rest": batch[:, 2:] - 1}


def test_forward_falls_back_to_numpy_for_other_backends() -> None:
    ops = DeviceOps(TORCH_SPEC, device="cpu")
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    backend = _NumpyOnly()
    outputs = ops.forward(backend, x)
    assert list(outputs) == ["first", "rest"]  # the backend's outputs, by name
    first, rest = outputs["first"], outputs["rest"]
    assert isinstance(first, torch.Tensor) and first.device == torch.device("cpu")
    np.testing.assert_array_equal(backend.seen[0], x.numpy())
    np.testing.assert_array_equal(first.numpy(), x.numpy()[:, :2] * 2)
    np.testing.assert_array_equal(rest.numpy(), x.numpy()[:, 2:] - 1)
