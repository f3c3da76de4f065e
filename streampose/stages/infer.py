"""Infer: batches network inputs across streams; one map-ring payload per item.

An item is a work item (:mod:`streampose.planning.work_items`): a whole frame, or one
tile of a frame; the tiles of one frame batch like frames of several streams do. A
pass-through item goes on to the map ring with no payload, and no network runs on it.

Batching follows the nvstreammux rule: take up to ``batch`` items, waiting at most
``max_wait_ms`` after the first one; an end-of-stream item closes the batch early. The
processing strategy (:mod:`streampose.processing`) runs the backend on a batch and
turns its outputs into payloads; this stage only moves items between rings.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from streampose.backends.request import BackendRequest
from streampose.planning.capacity import map_slots
from streampose.planning.plan import RunPlan
from streampose.processing import Processing
from streampose.runtime.channels import ChannelSpec, CountSpec, RingSpec, StageChannels, Wiring
from streampose.runtime.stage import POLL_S, Stage
from streampose.runtime.threads import ThreadBudget
from streampose.stages.ending import end_work
from streampose.transport.messages import FRAME_CODEC, FrameHeader
from streampose.transport.ring import SharedRing

Item = tuple[int, FrameHeader]


def with_threads(request: BackendRequest, budget: ThreadBudget) -> BackendRequest:
    """``request`` with the budget's inference threads (intra-op; ONNX Runtime also takes
    the inter-op count, unless the user's backend options set it)."""
    options = dict(request.options)
    if request.name == "onnxruntime" and budget.inter_op is not None:
        options.setdefault("inter_threads", budget.inter_op)
    threads = request.threads if budget.intra_op is None else budget.intra_op
    return replace(request, threads=threads, options=options)


class InferStage(Stage):
    """Input ring -> map ring; the model is built in ``open()``, inside this process.

    Several inference workers may share the input ring, each with its own backend
    session (``backend``: its device and threads) and its own batches; a stream's items
    may thus reach the map ring out of order, and render puts them back by ticket. A
    stream's end-of-stream item carries the ticket after its last frame, so render ends
    the stream only once every frame came back, whichever worker carried it.

    End of work: a worker stops at the end-of-work item (stream -1) that preprocess puts
    in the input ring for each worker; it counts itself on ``finished``, and the last
    worker to finish puts one end-of-work item per postprocess worker into the map ring,
    behind every payload of every worker.
    """

    name = kind = "infer"

    @classmethod
    def outputs(cls, plan: RunPlan, channels: StageChannels, index: int) -> list[ChannelSpec]:
        return [RingSpec(name=channels.name("maps"), slots=map_slots(plan), codec=FRAME_CODEC,
                         slot_bytes=plan.processing.output_bytes(plan.letterboxes)),
                CountSpec(name=channels.name("infer_done"))]

    @classmethod
    def build(cls, plan: RunPlan, wiring: Wiring[Any], index: int) -> InferStage:
        batching, processing, channels = plan.config.batching, plan.processing, wiring.channels
        workers = plan.processes.infer
        worker = workers[index]
        return cls(inputs=channels["inputs"], maps=channels["maps"], processing=processing,
                   backend=with_threads(replace(plan.backend, device=worker.device),
                                        plan.budget(cls.kind)),
                   batch=batching.batch, max_wait_ms=batching.max_wait_ms,
                   streams=plan.streams, consumers=plan.postprocess_workers,
                   frames=channels.group("frames") if processing.reads_frames else None,
                   finished=channels["infer_done"], peers=len(workers),
                   name=cls.kind if len(workers) == 1 else f"{cls.kind}{index}")

    def __init__(self, *, inputs: SharedRing, maps: SharedRing, processing: Processing,
                 backend: BackendRequest, batch: int, max_wait_ms: float, streams: int,
                 consumers: int, frames: list[SharedRing] | None = None,
                 finished: Any = None, peers: int = 1, name: str = "infer") -> None:
        """``frames``: the frame rings, when the processing strategy reads frames itself;
        ``consumers``: the postprocess workers; ``finished``/``peers``: the shared count
        of finished inference workers and how many there are (None: the only one)."""
        super().__init__()
        self.name = name
        self.inputs, self.maps, self.processing = inputs, maps, processing
        self.request = backend
        self.batch, self.max_wait_s = batch, max_wait_ms / 1000.0
        self.streams, self.consumers = streams, consumers
        self.frames = frames
        self.finished, self.peers = finished, peers
        self.batches = 0
        self.bytes_back = 0

    def open(self) -> None:
        self.backend = self.request.create()
        self.backend.open()
        self.processing.open(self.backend)

    def step(self) -> bool:
        items = self._collect()
        run: list[Item] = []
        for slot, header in items:
            if header.passthrough:  # no network runs on it: straight on, in any order
                self._forward(slot, header)
                continue
            if not header.eos:
                run.append((slot, header))
                continue
            self._infer(run)
            run = []
            if header.stream < 0:  # end of work: _collect stops at an EOS, nothing follows
                self.inputs.release(slot)
                self._end_work()
                return False
            self._forward(slot, header, pinned=True)
        self._infer(run)
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
            headers = [h for _, h in group]
            with self.busy():
                inputs = self.processing.input_views(self.inputs, group)
                payloads = self.processing.infer(self.backend, inputs, headers, self._frame)
            for slot, _ in group:
                self.inputs.release(slot)
            self.batches += 1
            for header, payload in zip(headers, payloads, strict=True):
                self._publish(header, payload)

    def _publish(self, header: FrameHeader, payload: Any) -> None:
        out = self.write_slot(self.maps)
        if out is None:
            return
        with self.busy():
            shape, dtype = payload.write(self.maps, out)
        self.bytes_back += payload.nbytes
        self.maps.publish(out, replace(header, shape=shape, dtype=dtype))
        self.items += 1

    def _frame(self, header: FrameHeader) -> np.ndarray:
        """The item's decoded frame, read in place from its stream's frame ring."""
        if self.frames is None:
            raise RuntimeError("infer: this processing reads frames, but no frame rings given")
        ring, slot = header.frame
        return self.frames[ring].view(slot, header.frame_shape, "uint8", writable=True)

    def _forward(self, slot: int, header: FrameHeader, *, pinned: bool = False) -> None:
        """An item with no payload (end of stream, pass-through) on to the map ring."""
        self.inputs.release(slot)
        out = self.write_slot(self.maps)
        if out is not None:
            self.maps.publish(out, header, pinned=pinned)

    def _end_work(self) -> None:
        """The last worker to finish: one end-of-work item per postprocess worker."""
        end_work(self, self.maps, finished=self.finished, peers=self.peers,
                 consumers=self.consumers)

    def extra_report(self) -> dict[str, object]:
        per_item = round(self.bytes_back / self.items) if self.items else None
        return {"batches": self.batches, "device_ops": self.processing.reads_frames,
                "map_bytes_per_item": per_item}

    def close(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()
