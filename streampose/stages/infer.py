"""Infer: batches network inputs across streams and writes heatmaps + PAFs per item.

Batching follows the nvstreammux rule: take up to ``batch`` items, waiting at most
``max_wait_ms`` after the first one; an end-of-stream item closes the batch early.

With ``device_ops`` (see :mod:`streampose.backends.device_ops`) the items carry only a
letterbox plan: this stage reads the uint8 frames from the frame rings, letterboxes them
and finds the peaks on the backend's device, and publishes fp16 PAFs plus the peak table
(:mod:`streampose.stages.payload`) instead of float32 maps.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from streampose.backends import create_backend
from streampose.models.spec import ModelSpec
from streampose.pose.decoder import DecoderThresholds
from streampose.pose.letterbox import rebuild_letterbox
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.payload import write_peak_payload
from streampose.transport.ring import FLAG_EOS, FLAG_PEAKS, ItemHeader, SharedRing

Item = tuple[int, ItemHeader]


class InferStage(Stage):
    """Input ring -> map ring; the model is built in ``open()``, inside this process."""

    name = "infer"

    def __init__(self, *, inputs: SharedRing, maps: SharedRing, spec: ModelSpec,
                 model_path: Path | None, backend: str, device: str, threads: int | None,
                 batch: int, max_wait_ms: float, streams: int, consumers: int,
                 options: dict[str, object] | None = None,
                 frames: list[SharedRing] | None = None, keypoints: int = 0,
                 thresholds: DecoderThresholds | None = None) -> None:
        super().__init__()
        self.inputs, self.maps, self.spec, self.model_path = inputs, maps, spec, model_path
        self.backend_name, self.device, self.threads = backend, device, threads
        self.batch, self.max_wait_s = batch, max_wait_ms / 1000.0
        self.streams, self.consumers = streams, consumers
        self.options = options or {}
        self.frames, self.keypoints = frames, keypoints
        self.thresholds = thresholds or DecoderThresholds()
        self._ended = 0
        self.batches = 0
        self.bytes_back = 0
        self.ops: Any = None

    def open(self) -> None:
        self.backend = create_backend(self.backend_name, spec=self.spec,
                                      model_path=self.model_path, device=self.device,
                                      threads=self.threads, **self.options)
        self.backend.open()
        if self.frames is not None:
            self.ops = self._device_ops()

    def _device_ops(self) -> Any:
        from streampose.backends.device_ops import DeviceOps

        t = self.thresholds
        device = getattr(self.backend, "tensor_device", None) or "cpu"
        return DeviceOps(self.spec, device=device, keypoints=self.keypoints,
                         peak_threshold=t.peak_threshold, nms_radius=t.nms_radius,
                         subpixel=t.subpixel)

    def step(self) -> bool:
        items = self._collect()
        if not items:
            return True
        run: list[Item] = []
        for slot, header in items:
            if header.eos:
                self._infer(run)
                run = []
                self._forward_eos(slot, header)
            else:
                run.append((slot, header))
        self._infer(run)
        if self._ended == self.streams:
            self._terminate_consumers()
            return False
        return True

    def _collect(self) -> list[Item]:
        first = self.inputs.acquire_read(POLL_S)
        if first is None:
            return []
        items = [first]
        deadline = time.monotonic() + self.max_wait_s
        while len(items) < self.batch and not items[-1][1].eos:
            got = self.inputs.acquire_read(max(0.0, deadline - time.monotonic()))
            if got is None:
                break
            items.append(got)
        return items

    def _infer(self, run: list[Item]) -> None:
        """Run the model on ``run``, split into groups of equal input shape."""
        while run:
            shape = run[0][1].shape
            group = [item for item in run if item[1].shape == shape]
            run = [item for item in run if item[1].shape != shape]
            if self.ops is not None:
                self._infer_on_device(group)
                continue
            with self.busy():
                batch = np.stack([self.inputs.view(slot, h) for slot, h in group])
                heatmaps, pafs = self.backend.infer(batch)
            for slot, _ in group:
                self.inputs.release(slot)
            self._publish_maps(group, heatmaps, pafs)
            self.batches += 1

    def _infer_on_device(self, group: list[Item]) -> None:
        frames = [self._frame(header) for _, header in group]
        plans = [rebuild_letterbox(in_hw=_input_hw(header.shape, self.spec.input_layout),
                                   src_wh=(header.width, header.height),
                                   transform=header.transform) for _, header in group]
        with self.busy():
            x = self.ops.prepare(frames, plans)
            result = self.ops.finish(*self.ops.forward(self.backend, x))
        for slot, _ in group:
            self.inputs.release(slot)
        self.batches += 1
        self.bytes_back += result.nbytes
        for i, (_, header) in enumerate(group):
            out = self.write_slot(self.maps)
            if out is None:
                return
            with self.busy():
                buf = self.maps.array(out, (self.maps.slot_bytes,), "uint8")
                write_peak_payload(buf, result.pafs[i], result.peaks[i])
            self.maps.publish(out, replace(header, shape=result.pafs.shape[1:], dtype="float16",
                                           flags=header.flags | FLAG_PEAKS))
            self.items += 1

    def _frame(self, header: ItemHeader) -> np.ndarray:
        """The item's decoded frame, read in place from its stream's frame ring."""
        assert self.frames is not None
        frame = replace(header, shape=(header.height, header.width, 3), dtype="uint8")
        return self.frames[header.stream].view(header.ref, frame, writable=True)

    def _publish_maps(self, group: list[Item], heatmaps: np.ndarray, pafs: np.ndarray) -> None:
        k = heatmaps.shape[1]
        shape = (k + pafs.shape[1], *heatmaps.shape[2:])
        for i, (_, header) in enumerate(group):
            out = self.write_slot(self.maps)
            if out is None:
                return
            with self.busy():
                view = self.maps.array(out, shape, "float32")
                view[:k] = heatmaps[i]
                view[k:] = pafs[i]
            self.bytes_back += view.nbytes
            self.maps.publish(out, replace(header, shape=shape, dtype="float32"))
            self.items += 1

    def _forward_eos(self, slot: int, header: ItemHeader) -> None:
        self.inputs.release(slot)
        out = self.write_slot(self.maps)
        if out is not None:
            self.maps.publish(out, header)
        self._ended += 1

    def _terminate_consumers(self) -> None:
        """One end-of-work item per postprocess worker (stream -1)."""
        for _ in range(self.consumers):
            out = self.write_slot(self.maps)
            if out is not None:
                self.maps.publish(out, ItemHeader(stream=-1, flags=FLAG_EOS))

    def extra_report(self) -> dict[str, object]:
        per_item = round(self.bytes_back / self.items) if self.items else None
        return {"batches": self.batches, "device_ops": self.ops is not None,
                "map_bytes_per_item": per_item}

    def close(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()
        self.inputs.close()
        self.maps.close()
        for ring in self.frames or ():
            ring.close()


def _input_hw(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
    return (shape[0], shape[1]) if layout == "NHWC" else (shape[1], shape[2])
