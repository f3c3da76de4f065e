"""Preprocess: each leased frame -> a network-input slot (the frame stays leased)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streampose.pose.letterbox import Letterbox, plan_for_spec
from streampose.processing import Processing
from streampose.runtime.channels import Channels, ChannelSpec, RingSpec
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.messages import FLAG_EOS, FRAME_CODEC, FrameHeader, FrameRef
from streampose.stages.plan import RunPlan
from streampose.transport.ring import SharedRing


class PreprocessStage(Stage):
    """Frame rings (one per stream) -> input ring; assigns each stream's gapless ``ticket``.

    Decoders ring a shared ``doorbell`` semaphore after each item; preprocess then takes
    the next item round-robin over the streams, so a fast camera cannot starve a slow one.
    What goes into the input slot is the processing strategy's business (a float32
    letterboxed image on the host, or nothing when the device letterboxes).
    """

    name = kind = "preprocess"

    @classmethod
    def outputs(cls, plan: RunPlan, index: int) -> list[ChannelSpec]:
        slots = plan.config.batching.batch + 2
        return [RingSpec(name="inputs", slots=slots, codec=FRAME_CODEC,
                         slot_bytes=plan.processing.input_bytes(plan.plans))]

    @classmethod
    def build(cls, plan: RunPlan, channels: Channels, index: int) -> PreprocessStage:
        return cls(frames=channels.group("frames"), doorbell=channels["doorbell"],
                   inputs=channels["inputs"], processing=plan.processing,
                   height=plan.input_height)

    def __init__(self, *, frames: list[SharedRing], doorbell: Any, inputs: SharedRing,
                 processing: Processing, height: int) -> None:
        super().__init__()
        self.frames, self.doorbell, self.inputs = frames, doorbell, inputs
        self.processing, self.height = processing, height
        self.streams = len(frames)
        self._turn = 0
        self._plans: dict[tuple[int, int], Letterbox] = {}
        self._tickets = [0] * self.streams
        self._ended = 0

    def step(self) -> bool:
        if not self.doorbell.acquire(timeout=POLL_S):
            return True
        got = self._next_item()
        if got is None:
            return True  # the item this doorbell announced was evicted (live drop)
        slot, header = got
        if header.eos:
            self.frames[header.stream].release(slot)
            self._forward_eos(header)
            self._ended += 1
            return self._ended < self.streams
        out = self.write_slot(self.inputs)
        if out is not None:
            with self.busy():
                self._prepare(slot, header, out)
        return True

    def _next_item(self) -> tuple[int, FrameHeader] | None:
        for i in range(self.streams):
            stream = (self._turn + i) % self.streams
            got = self.frames[stream].acquire_read(0.0)
            if got is not None:
                self._turn = stream + 1
                return got
        return None

    def plan(self, width: int, height: int) -> Letterbox:
        """The letterbox plan of a frame size (cached: sizes rarely change)."""
        key = (width, height)
        if key not in self._plans:
            self._plans[key] = plan_for_spec(self.processing.spec, src_w=width, src_h=height,
                                             height=self.height)
        return self._plans[key]

    def _prepare(self, slot: int, header: FrameHeader, out: int) -> None:
        lb = self.plan(header.width, header.height)
        frame = self.frames[header.stream].view(slot, header.frame_shape, "uint8")
        shape, dtype = self.processing.prepare(frame, lb, self.inputs, out)
        self.inputs.publish(out, replace(
            header, frame=FrameRef(header.stream, slot), shape=shape, dtype=dtype,
            ticket=self._next_ticket(header.stream),
            transform=lb.transform))
        self.items += 1

    def _forward_eos(self, header: FrameHeader) -> None:
        out = self.write_slot(self.inputs)
        if out is not None:
            self.inputs.publish(out, FrameHeader(stream=header.stream, seq=header.seq,
                                                 flags=FLAG_EOS,
                                                 ticket=self._next_ticket(header.stream)),
                                pinned=True)

    def _next_ticket(self, stream: int) -> int:
        self._tickets[stream] += 1
        return self._tickets[stream] - 1
