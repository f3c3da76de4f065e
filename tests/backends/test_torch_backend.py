"""torch backend (CPU), --backend auto, and ONNX export of the built-in network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch backend needs torch (the torch extra)")

from streampose.backends import create_backend  # noqa: E402
from streampose.backends.auto import choose_backend  # noqa: E402
from streampose.models import OUTPUT_NAMES, architecture_spec, build_model  # noqa: E402
from streampose.models.spec import ModelSpec  # noqa: E402
from tests.support.cli import run_cli  # noqa: E402
from tests.support.media import make_video  # noqa: E402
from tests.support.models import paf_head  # noqa: E402

SPEC = ModelSpec.from_dict(architecture_spec("lightweight-openpose"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint in the original release's format (a dict holding ``state_dict``)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint_iter_370000.pth"
    torch.save({"state_dict": build_model("lightweight-openpose").state_dict(), "iter": 370000},
               path)
    return path


def test_backend_matches_the_module(checkpoint: Path) -> None:
    model = build_model("lightweight-openpose", weights=checkpoint)
    batch = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 3, 64, 96)).astype(np.float32)
    with create_backend("torch", spec=SPEC, model_path=checkpoint, threads=1) as backend:
        outputs = backend.infer(batch)
        assert backend.output_shapes() == {"heatmaps": (None,) * 4, "pafs": (None,) * 4}
    assert list(outputs) == list(OUTPUT_NAMES["lightweight-openpose"]) == ["heatmaps", "pafs"]
    heatmaps, pafs = outputs["heatmaps"], outputs["pafs"]
    paf_head(SPEC).check_outputs(backend.output_shapes(), model=str(checkpoint))
    with torch.inference_mode():
        want = [t.numpy() for t in model(torch.from_numpy(batch))]
    assert heatmaps.shape == (2, 19, 8, 12) and pafs.shape == (2, 38, 8, 12)
    assert heatmaps.dtype == np.float32 and heatmaps.flags.c_contiguous
    assert np.abs(heatmaps - want[0]).max() < 1e-5 and np.abs(pafs - want[1]).max() < 1e-5


def test_cuda_without_a_gpu_is_a_clear_error(checkpoint: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from streampose.errors import ConfigError

    backend = create_backend("torch", spec=SPEC, model_path=checkpoint, device="cuda")
    with pytest.raises(ConfigError, match="no CUDA device"):
        backend.open()


@pytest.mark.parametrize(("onnx_file", "device", "expected"), [
    (False, "cpu", ("torch", "cpu")),
    (True, "cpu", ("onnxruntime", "cpu")),
])
def test_auto_backend_on_cpu(onnx_file: bool, device: str, expected: tuple) -> None:
    assert choose_backend(onnx_file=onnx_file, device=device) == expected


@pytest.mark.slow
@pytest.mark.parametrize("device_ops", ["off", "on"])
def test_torch_backend_in_the_pipeline(tmp_path: Path, checkpoint: Path, device_ops: str) -> None:
    """``on``: the GPU path's data flow (uint8 frames in, fp16 PAFs and peaks out) on the CPU."""
    clip = make_video(tmp_path / "clip.mp4", frames=6)
    result = run_cli("run", str(clip), "--backend", "torch", "--model", "lightweight-openpose",
                     "--weights", str(checkpoint), "--json", str(tmp_path / "o.jsonl"),
                     "--threads", "1", "--device-ops", device_ops,
                     "--summary", str(tmp_path / "s.json"), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(6))
    infer = next(s for s in json.loads((tmp_path / "s.json").read_text())["stages"]
                 if s["stage"] == "infer")
    assert infer["device_ops"] is (device_ops == "on")


def test_missing_weights_name_the_remedy(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=2)
    result = run_cli("run", str(clip), "--backend", "torch", "--model", "lightweight-openpose",
                     "--weights", str(tmp_path / "nope.pth"), timeout=300)
    assert result.returncode == 5 and "nope.pth" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_round_trip_matches_torch(tmp_path: Path, checkpoint: Path) -> None:
    pytest.importorskip("onnx", reason="the ONNX exporter needs the onnx package")
    out = tmp_path / "lwo.onnx"
    result = run_cli("export", "--model", "lightweight-openpose", "--weights", str(checkpoint),
                     "--onnx", str(out), "--height", "64", "--width", "96", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "matches torch within" in result.stderr and out.with_suffix(".toml").exists()
    import onnxruntime as ort

    model = build_model("lightweight-openpose", weights=checkpoint)
    batch = np.random.default_rng(2).uniform(-0.5, 0.5, (3, 3, 80, 120)).astype(np.float32)
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        ["heatmaps", "pafs"], {"input": batch})  # other batch and size: dynamic axes
    with torch.inference_mode():
        want = [t.numpy() for t in model(torch.from_numpy(batch))]
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True)) < 1e-4
    spec = ModelSpec.from_toml(out.with_suffix(".toml"))
    assert spec.input_layout == "NCHW" and spec.pad_value == 128.0
