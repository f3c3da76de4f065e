"""BGR -> I420: FFmpeg's conversion as the reference, determinism, the stream's tags."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from streampose.errors import ConfigError
from streampose.outputs.encoder import VideoWriter
from streampose.outputs.yuv import MATRICES, I420Converter, colour_matrix

AV_SPACE = {"bt601": Colorspace.ITU601, "bt709": Colorspace.ITU709}


def bars_pattern(height: int = 240, width: int = 320) -> np.ndarray:
    """Colour bars (top half), gradients (next quarter), noise (last quarter); BGR."""
    image = np.zeros((height, width, 3), np.uint8)
    bars = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255),
            (0, 0, 255), (255, 0, 0), (0, 0, 0)]
    bar = width // len(bars)
    for i, colour in enumerate(bars):
        image[: height // 2, i * bar : (i + 1) * bar] = colour
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    band = image[height // 2 : 3 * height // 4]
    band[..., 0], band[..., 1], band[..., 2] = ramp, ramp[::-1], 128
    noise = np.random.default_rng(7).integers(0, 256, (height - 3 * height // 4, width, 3))
    image[3 * height // 4 :] = noise.astype(np.uint8)
    return image


def reference(image: np.ndarray, matrix: str, interpolation: object = None) -> np.ndarray:
    """FFmpeg's (swscale's) BGR -> yuv420p, full-range input to limited-range output."""
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    out = frame.reformat(format="yuv420p", dst_colorspace=AV_SPACE[matrix],
                         src_color_range=ColorRange.JPEG, dst_color_range=ColorRange.MPEG,
                         interpolation=interpolation, threads=1)
    return out.to_ndarray()


def planes(i420: np.ndarray, height: int) -> list[np.ndarray]:
    quarter = height // 4
    return [i420[:height], i420[height : height + quarter], i420[height + quarter :]]


@pytest.mark.parametrize("matrix", sorted(MATRICES))
@pytest.mark.parametrize(("interpolation", "mean_at_most"), [
    (Interpolation.AREA | Interpolation.ACCURATE_RND, 0.25),  # swscale's exact path
    (None, 1.0),  # PyAV's default: bilinear, fast rounding (what the encoder used)
])
def test_the_conversion_is_ffmpeg_s_within_a_level(matrix: str, interpolation: object,
                                                     mean_at_most: float) -> None:
    image = bars_pattern()
    ours = I420Converter(320, 240, colour_matrix(matrix)).convert(image).astype(int)
    theirs = reference(image, matrix, interpolation).astype(int)
    assert ours.shape == theirs.shape == (360, 320)
    for name, a, b in zip("YUV", planes(ours, 240), planes(theirs, 240), strict=True):
        error = np.abs(a - b)
        assert error.mean() <= mean_at_most, (matrix, name, error.mean())
    if interpolation is not None:
        assert np.abs(ours - theirs).max() <= 1


def test_the_matrices_give_the_standards_values_for_pure_colours() -> None:
    for rgb, yuv601, yuv709 in [((255, 255, 255), (235, 128, 128), (235, 128, 128)),
                                ((0, 0, 0), (16, 128, 128), (16, 128, 128)),
                                ((255, 0, 0), (81, 90, 240), (63, 102, 240)),
                                ((0, 0, 255), (41, 240, 110), (32, 240, 118))]:
        image = np.empty((2, 2, 3), np.uint8)
        image[:] = rgb[::-1]  # BGR
        for name, expected in (("bt601", yuv601), ("bt709", yuv709)):
            i420 = I420Converter(2, 2, colour_matrix(name)).convert(image).reshape(-1)
            assert (int(i420[0]), int(i420[4]), int(i420[5])) == expected, (name, rgb)


def test_the_same_frame_gives_the_same_bytes() -> None:
    image = bars_pattern()
    first = I420Converter(320, 240, colour_matrix("bt709")).convert(image).copy()
    again = I420Converter(320, 240, colour_matrix("bt709"))
    again.convert(np.zeros_like(image))
    assert np.array_equal(again.convert(image), first)


def test_the_converter_refuses_odd_sizes_and_wrong_frames() -> None:
    with pytest.raises(ValueError, match="even size"):
        I420Converter(3, 2, colour_matrix("bt601"))
    with pytest.raises(ValueError, match="expected a 2x4x3 uint8"):
        I420Converter(4, 2, colour_matrix("bt601")).convert(np.zeros((4, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="bt601, bt709"):
        colour_matrix("srgb")
    with pytest.raises(ConfigError, match="colour matrix 'xyz'"):
        VideoWriter(path="x.mp4", width=4, height=4, fps=Fraction(10), colour="xyz")


def _encode(path: Path, colour: str, frames: int = 6) -> bytes:
    base = bars_pattern()
    with VideoWriter(path=path, width=320, height=240, fps=Fraction(10), colour=colour,
                     preset="ultrafast", threads=1) as writer:
        for i in range(frames):
            writer.write(np.roll(base, 8 * i, axis=1))
    return path.read_bytes()


@pytest.mark.parametrize("colour", sorted(MATRICES))
def test_two_runs_give_identical_files(tmp_path: Path, colour: str) -> None:
    assert _encode(tmp_path / "a.mp4", colour) == _encode(tmp_path / "b.mp4", colour)


@pytest.mark.parametrize("colour", sorted(MATRICES))
def test_the_stream_declares_its_matrix_and_range(tmp_path: Path, colour: str) -> None:
    _encode(tmp_path / "out.mp4", colour, frames=2)
    expected = MATRICES[colour]
    with av.open(str(tmp_path / "out.mp4")) as container:
        ctx = container.streams.video[0].codec_context
        assert (int(ctx.colorspace), int(ctx.color_range)) == (expected.colorspace, 1)
        assert (int(ctx.color_primaries), int(ctx.color_trc)) == (expected.primaries,
                                                                  expected.transfer)
        frame = next(container.decode(video=0))
        assert int(frame.colorspace) == expected.colorspace


def test_decoding_the_output_gives_the_colours_back(tmp_path: Path) -> None:
    """Decoded with the matrix the stream declares, a flat colour comes back."""
    colour = np.empty((240, 320, 3), np.uint8)
    colour[:] = (40, 160, 220)  # BGR
    path = tmp_path / "flat.mp4"
    with VideoWriter(path=path, width=320, height=240, fps=Fraction(10),
                     colour="bt709") as writer:
        writer.write(colour)
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        back = frame.reformat(format="bgr24", src_colorspace=Colorspace.ITU709,
                              src_color_range=ColorRange.MPEG,
                              dst_color_range=ColorRange.JPEG).to_ndarray()
    assert np.abs(back.astype(int) - colour.astype(int)).mean(axis=(0, 1)).max() <= 3


@pytest.mark.parametrize(("width", "height"), [(320, 240), (322, 242), (1922, 2)])
def test_the_encoder_s_frame_holds_the_conversion(tmp_path: Path, width: int,
                                                  height: int) -> None:
    """Written straight into the frame's planes (or copied where rows are padded), the
    frame handed to the encoder is the converter's output."""
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3)).astype(np.uint8)
    writer = VideoWriter(path=tmp_path / "x.mp4", width=width, height=height,
                         fps=Fraction(10), colour="bt709")
    frame = writer._to_frame(image)
    expected = I420Converter(width, height, colour_matrix("bt709")).convert(image)
    assert np.array_equal(frame.to_ndarray(), expected)
    assert int(frame.colorspace) == MATRICES["bt709"].colorspace


def test_converting_into_planes_of_the_wrong_shape_is_refused() -> None:
    converter = I420Converter(4, 2, colour_matrix("bt601"))
    image = np.zeros((2, 4, 3), np.uint8)
    planes = [np.empty((2, 4), np.uint8), np.empty((1, 2), np.uint8), np.empty((2, 2), np.uint8)]
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        converter.convert_into(image, planes)
