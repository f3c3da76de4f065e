"""Render: results back in order, skeletons drawn on the leased frame, encoded, released.

Results of one stream come back in ``ticket`` order whichever postprocess worker made
them. Each frame is drawn in place in its frame-ring slot, encoded, written to JSON lines,
and only then is the slot released: the frame ring bounds the frames in flight.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from streampose.media import VideoWriter
from streampose.pose import Poses, get_skeleton
from streampose.ring import ItemHeader, SharedRing
from streampose.runtime.counters import StreamCounters
from streampose.runtime.stage import POLL_S, Stage
from streampose.sinks.draw import SkeletonAnnotator
from streampose.sinks.jsonl import JsonLinesWriter
from streampose.stages.messages import PoseResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamOutput:
    """Where one stream's annotated video goes, and the timing it keeps."""

    stream: int
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    video: Path | None = None


@dataclass(frozen=True)
class EncoderOptions:
    preset: str = "ultrafast"
    crf: int = 23
    threads: int = 1
    fragmented: bool = False


class RenderStage(Stage):
    """Results queue + frame ring -> annotated videos, JSON lines; releases frame slots."""

    name = "render"

    def __init__(self, *, frames: SharedRing, results: Any, outputs: list[StreamOutput],
                 skeleton: str, counters: StreamCounters, json_path: Path | None = None,
                 encoder: EncoderOptions | None = None) -> None:
        super().__init__()
        self.frames, self.results, self.outputs = frames, results, outputs
        self.skeleton_name, self.counters, self.json_path = skeleton, counters, json_path
        self.encoder = encoder or EncoderOptions()
        self._pending: list[dict[int, PoseResult]] = [{} for _ in outputs]
        self._next = [0] * len(outputs)
        self._ended = [False] * len(outputs)
        self._writers: dict[int, VideoWriter] = {}
        self._json: JsonLinesWriter | None = None
        self._first_out: float | None = None
        self._last_out: float | None = None

    def open(self) -> None:
        self.skeleton = get_skeleton(self.skeleton_name)
        self.annotator = SkeletonAnnotator()
        if self.json_path is not None:
            self._json = JsonLinesWriter(path=self.json_path)
            self._json.open()
        for out in self.outputs:
            if out.video is not None:
                self._writers[out.stream] = self._open_writer(out)

    def _open_writer(self, out: StreamOutput) -> VideoWriter:
        writer = VideoWriter(path=out.video, width=out.width, height=out.height, fps=out.fps,
                             time_base=out.time_base, preset=self.encoder.preset,
                             crf=self.encoder.crf, threads=self.encoder.threads,
                             fragmented=self.encoder.fragmented)
        writer.open()
        return writer

    def step(self) -> bool:
        try:
            result: PoseResult = self.results.get(timeout=POLL_S)
        except queue.Empty:
            return True
        stream = result.header.stream
        self._pending[stream][result.ticket] = result
        self._drain(stream)
        return not all(self._ended)

    def _drain(self, stream: int) -> None:
        pending = self._pending[stream]
        while self._next[stream] in pending:
            result = pending.pop(self._next[stream])
            self._next[stream] += 1
            if result.header.eos:
                self._ended[stream] = True
            else:
                with self.busy():
                    self._emit(result)

    def _emit(self, result: PoseResult) -> None:
        header = result.header
        poses = Poses(result.keypoints, result.scores, self.skeleton)
        frame_header = self._frame_header(header)
        writer = self._writers.get(header.stream)
        if writer is not None:
            frame = self.frames.view(header.ref, frame_header, writable=True)
            self.annotator.annotate(frame, poses)
            writer.write(frame, header.pts)
            del frame
        self.frames.release(header.ref)
        if self._json is not None:
            self._json.write(self._record(header, poses))
        self.items += 1
        self.counters.add(header.stream, "frames_out")
        self._last_out = time.monotonic()
        if self._first_out is None:
            self._first_out = self._last_out

    def extra_report(self) -> dict[str, Any]:
        """Steady-state rate: frames between the first and the last one out (no start-up)."""
        if self._first_out is None or self._last_out is None or self.items < 2:
            return {}
        span = self._last_out - self._first_out
        return {"steady_fps": round((self.items - 1) / span, 3) if span > 0 else None}

    @staticmethod
    def _frame_header(header: ItemHeader) -> ItemHeader:
        return replace(header, shape=(header.height, header.width, 3), dtype="uint8")

    def _record(self, header: ItemHeader, poses: Poses) -> dict[str, Any]:
        record = {"stream": header.stream, "frame": header.seq,
                  "pts": round(float(header.pts * header.time_base), 6),
                  "wall": round(header.wall, 6)}
        record.update(poses.to_json())
        return record

    def close(self) -> None:
        for stream, writer in self._writers.items():
            try:
                writer.close()
            except Exception:  # one broken output must not stop the others closing
                log.exception("closing the video of stream %d failed", stream)
        if self._json is not None:
            self._json.close()
        self.frames.close()
