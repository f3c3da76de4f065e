"""Backend and device checks of ``resolve_backend`` (streampose.backends.auto), run in the
parent before any stage starts."""

from __future__ import annotations

import pytest

from streampose.backends import BackendEntry
from streampose.backends import auto as auto_mod
from streampose.backends.auto import (
    check_backend_name,
    check_device_name,
    check_device_present,
    check_requirements,
    resolve_backend,
)
from streampose.errors import ConfigError


@pytest.mark.parametrize("device", [None, "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_names_that_are_devices(device: str | None) -> None:
    check_device_name(device)


@pytest.mark.parametrize("device", ["gpu7", "gpu", "cuda:", "cuda:x", "CPU", "cuda:0:1", ""])
def test_device_names_that_are_not(device: str) -> None:
    with pytest.raises(ConfigError, match=rf"--device / \[model\].device: '{device}' is not "
                                          r"a device \(allowed: cpu, cuda, cuda:N\)"):
        check_device_name(device)


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'foo' is not a backend \(available: auto, fake, "):
        check_backend_name("foo")
    assert check_backend_name("fake").cls == "FakeBackend"


def test_a_missing_package_is_named_with_its_install_hint() -> None:
    entry = BackendEntry("x.y", "X", requires=("no_such_package_here",), install="pip install z")
    with pytest.raises(ConfigError, match=r"--backend x: needs the 'no_such_package_here' "
                                          r"package, which is not installed \(pip install z\)"):
        check_requirements("x", entry)


@pytest.mark.parametrize(("count", "device", "message"), [
    (0, "cuda", "torch sees no CUDA device here"),
    (2, "cuda:2", r"no such CUDA device \(this machine has 2: cuda:0 to cuda:1\)"),
])
def test_gpu_that_is_not_there(monkeypatch: pytest.MonkeyPatch, count: int, device: str,
                               message: str) -> None:
    monkeypatch.setattr(auto_mod, "cuda_device_count", lambda: count)
    with pytest.raises(ConfigError, match=message):
        check_device_present("torch", device)


def test_gpu_that_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto_mod, "cuda_device_count", lambda: 2)
    check_device_present("torch", "cuda:1")
    check_device_present("torch", "cpu")


def test_onnxruntime_gpu_without_a_cuda_torch_is_left_to_its_provider(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto_mod, "ort_has_cuda", lambda: True)
    for count in (None, 0):
        monkeypatch.setattr(auto_mod, "cuda_device_count", lambda count=count: count)
        check_device_present("onnxruntime", "cuda:1")
    monkeypatch.setattr(auto_mod, "cuda_device_count", lambda: 1)
    with pytest.raises(ConfigError, match="no such CUDA device"):
        check_device_present("onnxruntime", "cuda:1")


def test_onnxruntime_without_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto_mod, "ort_has_cuda", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA provider"):
        check_device_present("onnxruntime", "cuda")


def test_fake_backend_takes_any_device_name_that_is_a_device() -> None:
    assert resolve_backend("fake", "cuda:3", built_in=False) == ("fake", "cuda:3")
    with pytest.raises(ConfigError, match="is not a device"):
        resolve_backend("fake", "gpu7", built_in=False)
