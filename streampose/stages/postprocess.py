"""Postprocess: PAF grouping of each item's maps, keypoints mapped to frame pixels."""

from __future__ import annotations

import queue
from typing import Any

from streampose.pose import DecoderThresholds, PafDecoder, Poses, get_skeleton
from streampose.pose.peaks import Peaks
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.messages import PoseResult
from streampose.stages.payload import read_peak_payload
from streampose.transport.ring import FLAG_PEAKS, ItemHeader, SharedRing


def to_frame(poses: Poses, header: ItemHeader, stride: int) -> Poses:
    """Map-pixel poses -> original-frame pixels through the item's letterbox transform.

    Pixel i covers [i, i + 1) (cv2.resize's convention): map cell j is centred at
    stride * (j + 0.5) in the input, which is (stride * (j + 0.5) - pad) / scale in the
    frame, minus 0.5 to put frame pixel centres on integers (COCO and drawing). Peaks
    found in the letterbox padding are clamped to the frame's edge.
    """
    scale_x, scale_y, pad_x, pad_y = header.transform
    half = stride / 2
    moved = poses.transformed(scale=(stride / scale_x, stride / scale_y),
                              offset=((half - pad_x) / scale_x - 0.5,
                                      (half - pad_y) / scale_y - 0.5))
    return moved.clipped(width=header.width, height=header.height)


class PostprocessStage(Stage):
    """Map ring -> results queue. Several may run in parallel; render restores order."""

    def __init__(self, *, maps: SharedRing, results: Any, skeleton: str, stride: int,
                 heatmap_channels: int, worker: int = 0,
                 thresholds: DecoderThresholds | None = None) -> None:
        super().__init__()
        self.name = f"postprocess{worker}"
        self.maps, self.results, self.stride = maps, results, stride
        self.skeleton_name, self.heatmap_channels = skeleton, heatmap_channels
        self.thresholds = thresholds or DecoderThresholds()

    def open(self) -> None:
        self.decoder = PafDecoder(get_skeleton(self.skeleton_name), self.thresholds)

    def step(self) -> bool:
        got = self.maps.acquire_read(POLL_S)
        if got is None:
            return True
        slot, header = got
        if header.eos:
            self.maps.release(slot)
            if header.stream < 0:
                return False
            return self._send(PoseResult(header, header.ticket))
        with self.busy():
            poses = self._decode(slot, header)
            self.maps.release(slot)
            poses = to_frame(poses, header, self.stride)
        self.items += 1
        return self._send(PoseResult(header, header.ticket, poses.keypoints, poses.scores))

    def _decode(self, slot: int, header: ItemHeader) -> Poses:
        """Group one item: float32 maps, or (device ops) fp16 PAFs and the peaks found."""
        if header.flags & FLAG_PEAKS:
            buf = self.maps.array(slot, (self.maps.slot_bytes,), "uint8")
            pafs, table = read_peak_payload(buf, header)
            peaks = Peaks.from_table(table, self.decoder.skeleton.num_keypoints)
            return self.decoder.from_peaks(peaks, pafs)
        maps = self.maps.view(slot, header)
        return self.decoder(maps[:self.heatmap_channels], maps[self.heatmap_channels:])

    def _send(self, result: PoseResult) -> bool:
        while not self.stopping():
            try:
                self.results.put(result, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        self.maps.close()
        if self.stopping():  # nobody may read what is still buffered: don't wait to flush it
            self.results.cancel_join_thread()
