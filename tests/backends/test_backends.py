"""Backends: registry, fake backend, ONNX Runtime on the shared model."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streampose.backends import (
    Backend,
    BackendEntry,
    available_backends,
    create_backend,
    register_backend,
)
from streampose.backends.fake_people import standing_person
from streampose.errors import ConfigError, ModelError
from streampose.models.spec import ModelSpec, builtin_specs
from streampose.pose import COCO18, PafDecoder
from tests.support.models import host_processing, paf_head, paf_maps
from tests.support.shared import SHARED

MODEL = SHARED / "models" / "openpose-mnv2s-coco18.onnx"
needs_model = pytest.mark.skipif(
    not MODEL.is_file(), reason=f"needs the shared model {MODEL} (../shared is absent)"
)
SPEC = builtin_specs()["openpose-mnv2s-coco18"]
OUTPUT = "Openpose/concat_stage7:0"  # the shared model's one output: 19 heatmaps + 38 PAFs


def with_refs(spec: ModelSpec, **refs: object) -> ModelSpec:
    """``spec`` with fields of its PAF head's options (``heatmaps=``, ``pafs=``,
    ``output_layout=``) replaced."""
    return dataclasses.replace(spec, head_options=dataclasses.replace(spec.head_options, **refs))


# registry


def test_available_backends() -> None:
    assert {"onnxruntime", "fake"} <= set(available_backends())


def test_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown backend 'tensorflow' \(available: .*fake"):
        create_backend("tensorflow", spec=SPEC, model_path=None)


def test_unknown_option_lists_accepted_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'fp16'.*accepted: delay_ms"):
        create_backend("fake", spec=SPEC, model_path=None, fp16=True)


def test_missing_optional_package_fails_only_when_chosen() -> None:
    register_backend(
        "needs-missing",
        BackendEntry(
            "streampose_no_such_module",
            "Nope",
            requires=("streampose_no_such_module",),
            install="pip install it",
        ),
    )
    try:
        with pytest.raises(ConfigError, match=r"needs the 'streampose_no_such_module'.*pip"):
            create_backend("needs-missing", spec=SPEC, model_path=None)
        assert isinstance(create_backend("fake", spec=SPEC, model_path=None), Backend)
    finally:
        from streampose.backends import _REGISTRY

        del _REGISTRY["needs-missing"]


def test_entry_that_is_not_a_backend_is_refused() -> None:
    register_backend("not-a-backend", BackendEntry("streampose.errors", "ConfigError"))
    try:
        with pytest.raises(ConfigError, match=r"streampose.errors.ConfigError is not a Backend"):
            create_backend("not-a-backend", spec=SPEC, model_path=None)
    finally:
        from streampose.backends import _REGISTRY

        del _REGISTRY["not-a-backend"]


def test_tensorrt_is_found_by_name_without_tensorrt_installed(tmp_path: Path) -> None:
    backend = create_backend("tensorrt", spec=SPEC, model_path=tmp_path / "m.onnx",
                             device="cuda", input_hw="368x656")
    assert type(backend).__module__ == "streampose.backends.tensorrt.backend"
    assert backend.name == "tensorrt"


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_threads(threads: object) -> None:
    with pytest.raises(ConfigError, match="threads"):
        create_backend("fake", spec=SPEC, model_path=None, threads=threads)  # type: ignore[arg-type]


# fake backend


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize(("n", "h", "w"), [(1, 368, 656), (2, 368, 496), (3, 64, 40)])
def test_fake_shapes(layout: str, n: int, h: int, w: int) -> None:
    spec = dataclasses.replace(SPEC, input_layout=layout)
    with create_backend("fake", spec=spec, model_path=None) as backend:
        outputs = backend.infer(np.zeros(spec.input_shape(n, h, w), np.float32))
        assert backend.output_shapes() == {OUTPUT: (None, None, None, 57)}
    assert list(outputs) == [OUTPUT]  # the model's outputs as the spec names them (NHWC)
    raw = outputs[OUTPUT]
    assert raw.shape == (n, h // 8, w // 8, 57) and raw.dtype == np.float32
    assert raw.flags.c_contiguous
    heatmaps, pafs = paf_maps(spec, outputs)
    assert heatmaps.shape == (n, 19, h // 8, w // 8) and pafs.shape == (n, 38, h // 8, w // 8)
    assert heatmaps.dtype == pafs.dtype == np.float32


def test_fake_follows_the_specs_output_layout_and_names() -> None:
    """Two NCHW outputs (as the built-in network has): the same maps, placed per the spec."""
    spec = with_refs(SPEC, output_layout="NCHW",
                     heatmaps=dataclasses.replace(SPEC.head_options.heatmaps, output="h"),
                     pafs=dataclasses.replace(SPEC.head_options.pafs, output="p", start=2,
                                              stop=40))
    batch = np.zeros((1, 64, 96, 3), np.float32)
    batch[0, 24:32, 40:48] = 255.0
    with create_backend("fake", spec=spec, model_path=None) as backend:
        outputs = backend.infer(batch)
        assert backend.output_shapes() == {"h": (None, 19, None, None),
                                           "p": (None, 40, None, None)}
    with create_backend("fake", spec=SPEC, model_path=None) as backend:
        want = paf_maps(SPEC, backend.infer(batch))
    assert outputs["h"].shape == (1, 19, 8, 12) and outputs["p"].shape == (1, 40, 8, 12)
    assert not outputs["p"][:, :2].any()  # channels the spec does not read stay zero
    for got, expected in zip(paf_maps(spec, outputs), want, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_fake_is_deterministic_and_follows_the_input() -> None:
    batch = np.zeros((2, 368, 656, 3), np.float32)
    batch[1, 160:168, 320:328] = 255.0  # cell (20, 40)
    with create_backend("fake", spec=SPEC, model_path=None) as backend:
        heatmaps, pafs = paf_maps(SPEC, backend.infer(batch))
        again, _ = paf_maps(SPEC, backend.infer(batch))
    np.testing.assert_array_equal(heatmaps, again)
    assert heatmaps[0, :18].max() == 0.0 and np.all(heatmaps[0, 18] == 1.0)  # empty image
    assert not pafs[0].any()
    assert heatmaps[1, 18].min() < 0.05  # background: 1 - the strongest keypoint
    poses = PafDecoder(COCO18)(heatmaps[1], pafs[1])  # one whole person, centred on the cell
    height = 0.6 * 46
    want = standing_person(x=40.0, top=20 - height / 2, height=height)
    assert len(poses) == 1
    np.testing.assert_allclose(poses.keypoints[0, :, :2], want[:, :2], atol=0.05)


def test_fake_draws_a_chain_for_other_skeletons() -> None:
    refs = SPEC.head_options
    spec = with_refs(dataclasses.replace(SPEC, skeleton="body25"),
                     heatmaps=dataclasses.replace(refs.heatmaps, start=0, stop=26),
                     pafs=dataclasses.replace(refs.pafs, start=26, stop=78))
    batch = np.zeros((1, 368, 656, 3), np.float32)
    batch[0, 160:168, 320:328] = 255.0  # cell (20, 40)
    with create_backend("fake", spec=spec, model_path=None) as backend:
        heatmaps, pafs = paf_maps(spec, backend.infer(batch))
    for k in range(25):
        peak = np.unravel_index(np.argmax(heatmaps[0, k]), heatmaps.shape[2:])
        assert tuple(map(int, peak)) == (min(20 + k - 12, 45), 40)
    assert not pafs.any()


def test_fake_needs_open_and_rejects_bad_batches() -> None:
    backend = create_backend("fake", spec=SPEC, model_path=None)
    with pytest.raises(RuntimeError, match="before open"):
        backend.infer(np.zeros((1, 64, 64, 3), np.float32))
    backend.open()
    with pytest.raises(ValueError, match="float32 NHWC"):
        backend.infer(np.zeros((1, 64, 64, 3), np.float64))
    with pytest.raises(ValueError, match="3 channels"):
        backend.infer(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(ValueError, match="N >= 1"):
        backend.infer(np.zeros((0, 64, 64, 3), np.float32))
    backend.close()
    backend.close()  # idempotent


def test_fake_delay_option() -> None:
    backend = create_backend("fake", spec=SPEC, model_path=None, delay_ms=1.5)
    assert backend.delay_ms == 1.5
    with pytest.raises(ConfigError, match="delay_ms"):
        create_backend("fake", spec=SPEC, model_path=None, delay_ms=-1)


# ONNX Runtime


def test_ort_needs_a_model_path_and_valid_device() -> None:
    with pytest.raises(ConfigError, match="model path"):
        create_backend("onnxruntime", spec=SPEC, model_path=None)
    with pytest.raises(ConfigError, match=r"device = 'gpu' \(allowed: 'cpu', 'cuda', 'cuda:N'\)"):
        create_backend("onnxruntime", spec=SPEC, model_path=Path("m.onnx"), device="gpu")


def test_ort_cuda_unavailable_is_a_clear_error() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ConfigError, match="needs onnxruntime-gpu"):
        create_backend("onnxruntime", spec=SPEC, model_path=Path("m.onnx"), device="cuda:0")


def test_ort_missing_model_file(tmp_path: Path) -> None:
    backend = create_backend("onnxruntime", spec=SPEC, model_path=tmp_path / "absent.onnx")
    with pytest.raises(ModelError, match="model file not found"):
        backend.open()


def test_ort_bogus_model_file(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"this is not an onnx model\n" * 10)
    backend = create_backend("onnxruntime", spec=SPEC, model_path=bogus)
    with pytest.raises(ModelError, match="cannot load ONNX model") as info:
        backend.open()
    assert str(bogus) in str(info.value) and "\n" not in str(info.value)


def test_ort_backend_pickles_before_open(tmp_path: Path) -> None:
    backend = create_backend("onnxruntime", spec=SPEC, model_path=tmp_path / "m.onnx", threads=1)
    clone = pickle.loads(pickle.dumps(backend))
    assert (clone.spec, clone.threads, clone.model_path) == (SPEC, 1, tmp_path / "m.onnx")


@pytest.fixture(scope="module")
def ort_backend() -> Iterator[Backend]:
    if not MODEL.is_file():
        pytest.skip(f"needs the shared model {MODEL} (../shared is absent)")
    backend = create_backend("onnxruntime", spec=SPEC, model_path=MODEL, threads=1)
    backend.open()
    yield backend
    backend.close()


@pytest.mark.shared
@needs_model
@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize(("h", "w"), [(368, 656), (368, 496)])
def test_ort_output_shapes(ort_backend: Backend, n: int, h: int, w: int) -> None:
    batch = np.random.default_rng(n).uniform(0, 255, (n, h, w, 3)).astype(np.float32)
    outputs = ort_backend.infer(batch)
    assert list(outputs) == [OUTPUT]  # raw, as the model gives it: NHWC
    assert outputs[OUTPUT].shape == (n, h // 8, w // 8, 57)
    assert outputs[OUTPUT].dtype == np.float32
    heatmaps, pafs = paf_maps(SPEC, outputs)
    assert heatmaps.shape == (n, 19, h // 8, w // 8)
    assert pafs.shape == (n, 38, h // 8, w // 8)
    assert heatmaps.dtype == pafs.dtype == np.float32


@pytest.mark.shared
@needs_model
def test_ort_output_shapes_are_the_models(ort_backend: Backend) -> None:
    shapes = ort_backend.output_shapes()
    assert list(shapes) == [OUTPUT] and len(shapes[OUTPUT]) == 4
    assert shapes[OUTPUT][3] == 57  # static channels; the other axes follow the input
    paf_head(SPEC).check_outputs(shapes, model=str(MODEL))  # what the shipped spec reads


@pytest.mark.shared
@needs_model
def test_ort_black_image_is_background(ort_backend: Backend) -> None:
    heatmaps, _ = paf_maps(SPEC, ort_backend.infer(np.zeros((1, 368, 656, 3), np.float32)))
    background = heatmaps[0, 18]
    assert np.mean(background > 0.9) > 0.9
    assert background.mean() > heatmaps[0, :18].max(axis=0).mean()


@pytest.mark.shared
@needs_model
def test_ort_batch_matches_single_images(ort_backend: Backend) -> None:
    """The shipped spec has max_batch = 1: a batch runs image by image."""
    batch = np.random.default_rng(3).uniform(0, 255, (3, 368, 496, 3)).astype(np.float32)
    batch[0] = 0.0
    outputs = ort_backend.infer(batch)
    heatmaps, pafs = paf_maps(SPEC, outputs)
    assert outputs[OUTPUT].shape[0] == 3  # the chunks joined along the batch axis
    for n in range(3):
        alone_h, alone_p = paf_maps(SPEC, ort_backend.infer(batch[n : n + 1]))
        np.testing.assert_array_equal(heatmaps[n], alone_h[0])
        np.testing.assert_array_equal(pafs[n], alone_p[0])


@pytest.mark.shared
@needs_model
def test_the_shared_model_is_not_batch_independent() -> None:
    """Why the shipped spec says max_batch = 1: batch-mates change each other's maps."""
    spec = dataclasses.replace(SPEC, max_batch=0)
    batch = np.random.default_rng(3).uniform(0, 255, (2, 368, 496, 3)).astype(np.float32)
    batch[0] = 0.0
    with create_backend("onnxruntime", spec=spec, model_path=MODEL, threads=1) as backend:
        together, _ = paf_maps(spec, backend.infer(batch))
        alone, _ = paf_maps(spec, backend.infer(batch[:1]))
    assert np.abs(together[0] - alone[0]).max() > 0.05


@pytest.mark.shared
@needs_model
def test_ort_wrong_input_name_lists_real_names() -> None:
    spec = dataclasses.replace(SPEC, input_name="input")
    backend = create_backend("onnxruntime", spec=spec, model_path=MODEL)
    with pytest.raises(ModelError, match=r"no input 'input'.*its inputs are: 'image:0'"):
        backend.open()


# The model's outputs are checked by its head (the backend opens any model): PafHead's
# check_outputs on the shapes the ONNX Runtime backend reads from the real model.


@pytest.mark.shared
@needs_model
def test_ort_wrong_output_name_lists_real_names(ort_backend: Backend) -> None:
    spec = with_refs(SPEC, pafs=dataclasses.replace(SPEC.head_options.pafs, output="pafs"))
    with pytest.raises(ModelError, match=r"pafs\.output.*'Openpose/concat_stage7:0'") as info:
        paf_head(spec).check_outputs(ort_backend.output_shapes(), model=str(MODEL))
    assert str(MODEL) in str(info.value) and spec.source in str(info.value)


@pytest.mark.shared
@needs_model
def test_ort_wrong_channel_ranges(ort_backend: Backend) -> None:
    too_far = with_refs(SPEC, pafs=dataclasses.replace(SPEC.head_options.pafs, start=20,
                                                       stop=60))
    with pytest.raises(ModelError, match=r"only 57 channels.*pafs\.channels") as info:
        paf_head(too_far).check_outputs(ort_backend.output_shapes(), model=str(MODEL))
    assert str(MODEL) in str(info.value) and "ends at 60" in str(info.value)


@pytest.mark.shared
@needs_model
def test_a_wrong_output_stops_the_processing_at_open() -> None:
    """Where the infer stage meets it: Processing.open lets the head check the backend's
    outputs, so a wrong spec fails once, before the first batch, naming the file."""
    spec = with_refs(SPEC, heatmaps=dataclasses.replace(SPEC.head_options.heatmaps,
                                                        output="heatmaps"))
    with create_backend("onnxruntime", spec=spec, model_path=MODEL, threads=1) as backend, \
            pytest.raises(ModelError, match=r"no output 'heatmaps' \(heatmaps\.output") as info:
        host_processing(spec).open(backend)
    assert str(MODEL) in str(info.value)


@pytest.mark.shared
@needs_model
def test_ort_wrong_input_layout() -> None:
    nchw: ModelSpec = dataclasses.replace(SPEC, input_layout="NCHW")
    with pytest.raises(ModelError, match="not a 3-channel NCHW"):
        create_backend("onnxruntime", spec=nchw, model_path=MODEL).open()


@pytest.mark.shared
@needs_model
def test_ort_spin_option_and_context_manager() -> None:
    backend = create_backend("onnxruntime", spec=SPEC, model_path=MODEL, threads=1, spin=False)
    with backend:
        heatmaps, _ = paf_maps(SPEC, backend.infer(np.zeros((1, 64, 64, 3), np.float32)))
    assert heatmaps.shape == (1, 19, 8, 8)
    with pytest.raises(RuntimeError, match="before open"):
        backend.infer(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(RuntimeError, match="before open"):
        backend.output_shapes()


def test_fake_latency_option_makes_every_batch_last_at_least_that_long() -> None:
    """A simulated device: the wall time of a call is at least ``latency_ms`` (a lower
    bound guaranteed by sleeping, not a speed measurement)."""
    import time

    backend = create_backend("fake", spec=SPEC, model_path=None, latency_ms=50)
    assert backend.latency_ms == 50.0
    backend.open()
    start = time.monotonic()
    outputs = backend.infer(np.zeros((2, 64, 64, 3), np.float32))
    assert time.monotonic() - start >= 0.05
    plain = create_backend("fake", spec=SPEC, model_path=None)
    plain.open()
    expected = plain.infer(np.zeros((2, 64, 64, 3), np.float32))
    assert outputs.keys() == expected.keys()
    for name in outputs:  # the latency changes nothing else
        np.testing.assert_array_equal(outputs[name], expected[name])
    with pytest.raises(ConfigError, match="latency_ms"):
        create_backend("fake", spec=SPEC, model_path=None, latency_ms=-2)
    with pytest.raises(ConfigError, match="latency_ms"):
        create_backend("fake", spec=SPEC, model_path=None, latency_ms="fast")
