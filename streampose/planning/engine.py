"""The inference side of a run plan: the backend and its device(s), the model (a spec and
a file), its head, the processing strategy, and the backend request the inference stage
opens. Part of :func:`streampose.planning.validate.validate`."""

from __future__ import annotations

from dataclasses import dataclass

from streampose.backends.auto import resolve_backend
from streampose.backends.devices import parse_devices
from streampose.backends.request import BackendRequest
from streampose.config import PipelineConfig
from streampose.errors import ConfigError, ModelError
from streampose.heads import head_settings, make_head
from streampose.models import ARCHITECTURES
from streampose.models.folders import model_folders
from streampose.models.resolve import ResolvedModel, resolve_model
from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox
from streampose.processing import Processing, choose_processing

__all__ = ["Engine", "Model", "choose_model", "make_engine"]


@dataclass(frozen=True)
class Model:
    """The backend chosen for the run, its device(s), and the model it runs."""

    backend: str
    device: str
    devices: tuple[str, ...]
    resolved: ResolvedModel


@dataclass(frozen=True)
class Engine:
    """What runs the network: the backend request, the model's spec, the processing
    strategy, and the inference devices (one worker each when several)."""

    request: BackendRequest
    spec: ModelSpec
    processing: Processing
    devices: tuple[str, ...]


def choose_model(config: PipelineConfig) -> Model:
    """The backend and device(s) of ``config`` and its model (a spec and a file)."""
    model_cfg = config.model
    if model_cfg.path is None:
        raise ModelError("--model is required (on the command line or in --config)")
    devices = parse_devices(model_cfg.device)
    backend, device = resolve_backend(model_cfg.backend, devices[0] if devices else None,
                                      built_in=str(model_cfg.path) in ARCHITECTURES)
    # a list is kept when the backend runs on it (auto may have fallen back to the CPU)
    devices = devices if len(devices) > 1 and device == devices[0] else (device,)
    folders = model_folders(option=model_cfg.models_dir, configured=model_cfg.dir)
    model = resolve_model(model_cfg.path, spec=model_cfg.spec, weights=model_cfg.weights,
                          must_exist=backend != "fake", folders=folders)
    return Model(backend=backend, device=device, devices=devices, resolved=model)


def make_engine(config: PipelineConfig, model: Model,
                letterboxes: frozenset[Letterbox]) -> Engine:
    """``model``'s head, the processing strategy and the backend request."""
    spec, model_cfg = model.resolved.spec, config.model
    head = make_head(spec, head_settings(spec, config))
    processing = choose_processing(model_cfg.device_ops, backend=model.backend,
                                   device=model.device, head=head)
    if config.tiles.enabled and processing.reads_frames:
        raise ConfigError("--tiles auto: tiles are letterboxed on the host; give "
                          "--device-ops off")
    options = _backend_options(model.backend, model_cfg.backend_options, letterboxes)
    request = BackendRequest(name=model.backend, spec=spec, model_path=model.resolved.path,
                             device=model.device, threads=model_cfg.threads, options=options)
    return Engine(request=request, spec=spec, processing=processing, devices=model.devices)


def _backend_options(backend: str, options: dict[str, object],
                     plans: frozenset[Letterbox]) -> dict[str, object]:
    """The user's backend options; TensorRT also gets the input size when there is only
    one, so its engine is built (or loaded) when the stage opens, not at the first frame,
    and with ``int8`` the function that reads its calibration frames (backends sit below
    the sources)."""
    options = dict(options)
    if backend != "tensorrt":
        return options
    if len(plans) == 1 and "input_hw" not in options:
        lb = next(iter(plans))
        options["input_hw"] = (lb.in_h, lb.in_w)
    if options.get("int8") is True:
        from streampose.sources.sample import sample_frames

        options.setdefault("calibration_loader", sample_frames)
    return options
