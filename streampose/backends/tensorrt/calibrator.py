"""INT8 calibration for TensorRT: an entropy calibrator fed by the quantizer's reader.

    feed = CalibrationFeed(reader=make_reader, input_name="image", batch_size=1,
                           cache_path=calibration_path(cache_dir, "model", key),
                           to_device=lambda batch: torch.from_numpy(batch).cuda())
    calibrator = entropy_calibrator(trt, feed)      # an IInt8EntropyCalibrator2
    config.int8_calibrator = calibrator

The calibration inputs are those ``streampose quantize`` calibrates ONNX Runtime on: the
same :class:`~streampose.models.quantize.FrameCalibration` reader over frames prepared by
the run's own letterbox, colour order and normalisation
(:func:`~streampose.models.quantize.network_inputs`). :class:`CalibrationFeed` is what the
calibrator does, without TensorRT: it stacks the reader's inputs into batches, copies each
to the device (``to_device`` returns an object with ``data_ptr()``, a torch CUDA tensor in
a run; it is kept alive until the next batch) and reads/writes the calibration cache. The
reader is made only when TensorRT asks for a batch: with a cache file present, TensorRT
reads the cache and asks for none, so no frame is decoded.

The cache sits beside the engines, named by :class:`CalibrationKey` (the model, the
TensorRT version, the input and the calibration data), so an engine rebuilt for another
GPU or after a stale sidecar reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from streampose.backends.tensorrt.engine_cache import atomic_write
from streampose.backends.tensorrt.shapes import HW
from streampose.errors import ConfigError, ModelError

__all__ = ["CalibrationFeed", "CalibrationKey", "CalibrationReader", "calibration_path",
           "entropy_calibrator"]

log = logging.getLogger(__name__)


class CalibrationReader(Protocol):
    """ONNX Runtime's ``CalibrationDataReader`` protocol: one ``{input: batch}`` per call."""

    def get_next(self) -> dict[str, np.ndarray] | None: ...


@dataclass(frozen=True)
class CalibrationKey:
    """What a calibration cache depends on: another value means another cache file."""

    model_sha256: str
    tensorrt_version: str
    input_name: str
    input_layout: str
    input_hw: HW
    sources: tuple[str, ...]
    frames: int

    @property
    def digest(self) -> str:
        values = {**asdict(self), "input_hw": list(self.input_hw),
                  "sources": list(self.sources)}
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def calibration_path(cache_dir: Path, model_stem: str, key: CalibrationKey) -> Path:
    """``<cache_dir>/<model stem>-<key digest[:16]>.calib``, beside the engines."""
    return Path(cache_dir) / f"{model_stem}-{key.digest[:16]}.calib"


class CalibrationFeed:
    """The calibrator's work without TensorRT: device batches from the reader, the cache."""

    def __init__(self, *, reader: Callable[[], CalibrationReader], input_name: str,
                 batch_size: int, cache_path: Path,
                 to_device: Callable[[np.ndarray], Any]) -> None:
        self.input_name, self.batch_size, self.cache_path = input_name, batch_size, cache_path
        self._make_reader, self._to_device = reader, to_device
        self._reader: CalibrationReader | None = None
        self._held: Any = None  # the batch TensorRT is reading
        self.batches = 0

    def next_pointers(self, names: Sequence[str]) -> list[int] | None:
        """Device addresses of the next batch, one per input name; None when done."""
        unknown = [name for name in names if name != self.input_name]
        if unknown:
            raise ModelError(f"tensorrt int8 calibration: the network asks for input(s) "
                             f"{unknown}; the calibration data has only {self.input_name!r}")
        batch = self._next_batch()
        self._held = None if batch is None else self._to_device(batch)
        if self._held is None:
            log.info("tensorrt: calibrated on %d batch(es) of %d", self.batches,
                     self.batch_size)
            return None
        self.batches += 1
        return [int(self._held.data_ptr()) for _ in names]

    def _next_batch(self) -> np.ndarray | None:
        """``batch_size`` reader inputs stacked; None when fewer remain (dropped)."""
        if self._reader is None:
            self._reader = self._make_reader()
        parts: list[np.ndarray] = []
        while sum(len(p) for p in parts) < self.batch_size:
            item = self._reader.get_next()
            if item is None:
                return None
            parts.append(np.asarray(item[self.input_name], dtype=np.float32))
        batch = np.concatenate(parts)
        if len(batch) != self.batch_size:
            raise ModelError(f"tensorrt int8 calibration: the reader's inputs do not make "
                             f"batches of {self.batch_size} ({len(batch)})")
        return np.ascontiguousarray(batch)

    def read_cache(self) -> bytes | None:
        """The cache file's bytes (TensorRT then skips calibrating), or None."""
        try:
            data = self.cache_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("tensorrt: cannot read calibration cache %s: %s", self.cache_path, exc)
            return None
        log.info("tensorrt: using calibration cache %s", self.cache_path)
        return data or None

    def write_cache(self, cache: Any) -> None:
        """Keep TensorRT's calibration table (bytes, a buffer or IHostMemory) on disk."""
        try:
            atomic_write(self.cache_path, bytes(memoryview(cache)))
        except OSError as exc:
            log.warning("tensorrt: cannot write calibration cache %s: %s", self.cache_path,
                        exc)
            return
        log.info("tensorrt: wrote calibration cache %s", self.cache_path)


def entropy_calibrator(trt: Any, feed: CalibrationFeed) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` that hands TensorRT ``feed``'s batches and cache."""
    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise ConfigError(f"tensorrt int8: TensorRT {getattr(trt, '__version__', '?')} has "
                          "no IInt8EntropyCalibrator2 (calibrated INT8 was removed); give a "
                          "model made by `streampose quantize` (QDQ) with fp16 instead")

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # a base known only at run time
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self) -> int:
            return feed.batch_size

        def get_batch(self, names: Sequence[str], *_: object) -> list[int] | None:
            return feed.next_pointers(names)

        def read_calibration_cache(self, *_: object) -> bytes | None:
            return feed.read_cache()

        def write_calibration_cache(self, cache: Any, *_: object) -> None:
            feed.write_cache(cache)

    return _EntropyCalibrator()
