"""Preprocess: letterbox each leased frame into a network-input slot (frame stays leased)."""

from __future__ import annotations

from typing import Any

from streampose.models.spec import ModelSpec
from streampose.pose.letterbox import Letterbox, letterbox_into, plan_letterbox
from streampose.runtime.stage import POLL_S, Stage
from streampose.transport.ring import FLAG_EOS, ItemHeader, SharedRing


class PreprocessStage(Stage):
    """Frame rings (one per stream) -> input ring; assigns each stream's gapless ``ticket``.

    Decoders ring a shared ``doorbell`` semaphore after each item; preprocess then takes
    the next item round-robin over the streams, so a fast camera cannot starve a slow one.

    With ``device_ops`` the letterbox is left to the infer stage's device: the input item
    carries only the plan (shape and transform) and the frame slot (``ref``), and infer
    reads the uint8 frame from the frame ring itself.
    """

    name = "preprocess"

    def __init__(self, *, frames: list[SharedRing], doorbell: Any, inputs: SharedRing,
                 spec: ModelSpec, height: int, device_ops: bool = False) -> None:
        super().__init__()
        self.frames, self.doorbell, self.inputs = frames, doorbell, inputs
        self.spec, self.height, self.device_ops = spec, height, device_ops
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
            self._forward(header.stream, ItemHeader(stream=header.stream, seq=header.seq,
                                                    flags=FLAG_EOS))
            self._ended += 1
            return self._ended < self.streams
        out = self.write_slot(self.inputs)
        if out is not None:
            with self.busy():
                self._letterbox(slot, header, out)
        return True

    def _next_item(self) -> tuple[int, ItemHeader] | None:
        for i in range(self.streams):
            stream = (self._turn + i) % self.streams
            got = self.frames[stream].acquire_read(0.0)
            if got is not None:
                self._turn = stream + 1
                return got
        return None

    def plan(self, width: int, height: int) -> Letterbox:
        key = (width, height)
        if key not in self._plans:
            self._plans[key] = plan_letterbox(src_w=width, src_h=height, height=self.height,
                                              stride=self.spec.stride)
        return self._plans[key]

    def _letterbox(self, slot: int, header: ItemHeader, out: int) -> None:
        lb = self.plan(header.width, header.height)
        shape = self.spec.input_shape(1, lb.in_h, lb.in_w)[1:]
        dtype = "uint8" if self.device_ops else "float32"
        if not self.device_ops:
            letterbox_into(self.frames[header.stream].view(slot, header), lb,
                           self.inputs.array(out, shape, "float32"), spec=self.spec)
        ticket = self._next_ticket(header.stream)
        self.inputs.publish(out, ItemHeader(
            stream=header.stream, seq=header.seq, pts=header.pts, time_base=header.time_base,
            wall=header.wall, width=header.width, height=header.height, flags=header.flags,
            ref=slot, shape=shape, dtype=dtype, ticket=ticket,
            transform=(lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y)))
        self.items += 1

    def _forward(self, stream: int, header: ItemHeader) -> None:
        out = self.write_slot(self.inputs)
        if out is not None:
            self.inputs.publish(out, ItemHeader(stream=stream, seq=header.seq, flags=FLAG_EOS,
                                                ticket=self._next_ticket(stream)))

    def _next_ticket(self, stream: int) -> int:
        self._tickets[stream] += 1
        return self._tickets[stream] - 1

    def close(self) -> None:
        for ring in self.frames:
            ring.close()
        self.inputs.close()
