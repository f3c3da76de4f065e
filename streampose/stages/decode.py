"""Decode: one source's frames into its frame ring, one copy each; see ARCHITECTURE.md.

:class:`DecodeStage` holds what every source shares: the
:class:`~streampose.sources.Source`, the ring writes (one header per frame), the
end-of-stream item, ``max_frames`` and the stop-sources event. How frames are pumped is
its :class:`DecodePolicy`, chosen from whether the source is live (:func:`policy_for`)
and wrapped by the seat's (:class:`SeatPolicy`):

- :class:`BlockingPolicy` (files, images): the stage loop reads the next frame and waits
  for a free slot, so every frame comes out.
- :class:`LivePolicy` (cameras): a reader thread owns the connection and writes each
  frame with the ring's ``drop_oldest`` policy (the oldest unprocessed frame makes room;
  when every slot is in use downstream the new frame is dropped), counting every drop.
  When the source errors, ends (a live end is a disconnect) or stalls, it reconnects
  with capped exponential backoff, alone: other streams are other processes. The stage
  loop itself only watches the stop events, so shutdown never waits on the network.
- :class:`SeatPolicy` (every decode stage's): reads whichever camera the seat table
  (:mod:`streampose.cameras.seats`) assigns to its seat, with the policy chosen for it
  (:func:`policy_for`), replaced when the assignment changes; a detach marker between
  cameras. A fixed run's table never changes: its one camera is read to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from streampose.cameras.seats import SEAT_MAX_ASPECT, SeatTable
from streampose.config.camera import Camera
from streampose.config.overrides import StreamSettings
from streampose.config.sections import LiveConfig
from streampose.errors import SourceError
from streampose.observe.counters import StreamCounters
from streampose.planning.capacity import frame_bytes, frame_slots
from streampose.planning.plan import RunPlan
from streampose.planning.run_state import RunState
from streampose.runtime.channels import (
    ChannelSpec,
    DoorbellSpec,
    RingSpec,
    StageChannels,
    Wiring,
)
from streampose.runtime.stage import POLL_S, Stage
from streampose.sources import Frame, ProbedSource, Source, create_source, redact
from streampose.stages.frame_fit import FrameFit, Placed
from streampose.transport.messages import (
    FLAG_DETACH,
    FLAG_DROPPED_BEFORE,
    FLAG_EOS,
    FLAG_RECONNECTED,
    FRAME_CODEC,
    FrameHeader,
)
from streampose.transport.ring import SharedRing

__all__ = ["BlockingPolicy", "DecodePolicy", "DecodeStage", "LivePolicy", "SeatPolicy",
           "backoff_s", "policy_for"]  # fmt: skip

log = logging.getLogger(__name__)

PIPELINE_WAIT_S = 60.0  # a live source connects once every stage is open, or after this
LIVE_EOS_WAIT_S = 5.0  # longest wait for a slot to queue a live stream's end
NOT_FITTED = Placed((0, 0), (1.0, 1.0))  # a frame as it came: FrameHeader's defaults


class DecodeStage(Stage):
    """Reads one source and writes each frame into a slot of the stream's frame ring.

    The slot is a lease: preprocess reads it in place and render releases it after the
    annotated frame is encoded. The stream ends with an end-of-stream item.
    """

    kind = "decode"

    @classmethod
    def outputs(cls, plan: RunPlan, channels: StageChannels, index: int) -> list[ChannelSpec]:
        ring_policy = _ring_policy(plan.sources[index])
        return [RingSpec(name=channels.name("frames", index), codec=FRAME_CODEC,
                         policy=ring_policy, slots=frame_slots(plan, index),
                         slot_bytes=frame_bytes(plan, index)),
                DoorbellSpec(name=channels.name("doorbell",
                                                plan.processes.preprocess_shard(index)))]

    @classmethod
    def build(cls, plan: RunPlan, wiring: Wiring[RunState], index: int) -> DecodeStage:
        cfg, probed, run = plan.config, plan.sources[index], wiring.run
        threads = plan.budget(cls.kind).decode
        channels = wiring.channels
        ring = channels.at("frames", index)
        doorbell = channels.at("doorbell", plan.processes.preprocess_shard(index))
        autorotate = cfg.performance.autorotate
        policy = SeatPolicy(seats=run.seats, settings=cfg.settings, probed=probed,
                            threads=1 if threads is None else threads,
                            first=_first_source(run.seats, index, cfg.settings, threads,
                                                autorotate=autorotate),
                            autorotate=autorotate)
        return cls(stream=index, source=None, ring=ring, doorbell=doorbell,
                   counters=run.counters, policy=policy, max_frames=cfg.performance.max_frames)

    def __init__(self, *, stream: int, source: Source | None, ring: SharedRing, doorbell: Any,
                 counters: StreamCounters, policy: DecodePolicy,
                 max_frames: int | None = None) -> None:
        super().__init__()
        self.name = f"decode{stream}"
        self.stream, self.ring, self.doorbell = stream, ring, doorbell
        self.source: Source = source  # type: ignore[assignment]  # the seat's: set by its policy
        self.counters, self.policy, self.max_frames = counters, policy, max_frames
        self._seq = 0
        self._damage_seen = 0
        # in a changing seat: the end of a camera is a detach marker for this generation
        self.detach_generation: int | None = None

    def open(self) -> None:
        self.policy.start(self)

    def step(self) -> bool:
        return self.policy.step(self)

    def close(self) -> None:
        self.policy.stop(self)

    def extra_report(self) -> dict[str, Any]:
        """For the summary: the degrees a file's pictures were turned upright (its
        display matrix), when they were."""
        info = getattr(self.source, "_info", None)
        rotation = getattr(info, "rotation", 0)
        return {"autorotated": rotation} if rotation else {}

    # -- what the policies share --------------------------------------------------------

    def begin_source(self, source: Source) -> None:
        """Read ``source`` from now on (the seat's next camera): its frames are
        numbered from 0, its damage counted from none."""
        self.source = source
        self._seq, self._damage_seen = 0, 0

    def should_end(self) -> bool:
        """``max_frames`` written, or the supervisor asked the sources to stop."""
        limit = self.max_frames is not None and self._seq >= self.max_frames
        return limit or (self.control is not None and self.control.stop_sources.is_set())

    def count(self, name: str, n: int = 1) -> None:
        self.counters.add(self.stream, name, n)

    def count_damage(self) -> None:
        """Move the source's new decode errors (skipped damaged data) to the counters."""
        new = self.source.decode_errors - self._damage_seen
        if new > 0:
            self.count("decode_errors", new)
            self._damage_seen += new

    def write(self, slot: int, frame: Frame, *, flags: int = 0,
              placed: Placed | None = None) -> None:
        """Copy ``frame`` into ``slot`` and publish it (``wall``: the frame's, else now);
        ``placed``: its source picture, when FrameFit scaled or padded it."""
        image = frame.image
        self.ring.array(slot, image.shape, image.dtype)[...] = image
        wall = time.time() if frame.wall is None else frame.wall
        h, w = image.shape[:2]
        size, scale = NOT_FITTED if placed is None else placed
        self.ring.publish(slot, FrameHeader(
            stream=self.stream, seq=self._seq, pts=frame.pts,
            time_base=self.source.info.time_base, wall=wall, width=w, height=h, flags=flags,
            shape=image.shape, dtype="uint8", source_size=size, source_scale=scale))
        self.doorbell.release()
        self._seq += 1
        self.items += 1

    def skip_to(self, seq: int) -> None:
        """Number the next frame ``seq`` (an image source skipped unreadable images)."""
        self._seq = max(self._seq, seq)

    def skip(self) -> None:
        """A frame dropped before it had a slot: its index is used up all the same, so
        the gaps in ``seq`` (the ``frame`` of outputs) are exactly the dropped frames."""
        self._seq += 1

    def write_eos(self, slot: int) -> None:
        """Publish the end-of-stream item into ``slot`` (in a changing seat: the end
        of its camera, ``detach_generation`` set by SeatPolicy)."""
        generation = self.detach_generation
        header = FrameHeader(stream=self.stream, seq=self._seq, flags=FLAG_EOS) \
            if generation is None else \
            FrameHeader(stream=self.stream, seq=self._seq, pts=generation,
                        flags=FLAG_EOS | FLAG_DETACH)
        self.ring.publish(slot, header, pinned=True)
        self.doorbell.release()


class DecodePolicy(ABC):
    """How a DecodeStage pumps its source; built in the parent, started in the stage."""

    ring_policy = "block"  # the frame ring's policy this needs (SharedRing.create)

    @abstractmethod
    def start(self, stage: DecodeStage) -> None:
        """Open what the stage reads (runs in the stage's process)."""

    @abstractmethod
    def step(self, stage: DecodeStage) -> bool:
        """One bounded unit of work; False once the end-of-stream item is queued."""

    @abstractmethod
    def stop(self, stage: DecodeStage) -> None:
        """Release the source; runs whenever ``start`` succeeded."""


class BlockingPolicy(DecodePolicy):
    """Files and images: read in the stage loop, wait for free slots, lose nothing.

    ``bound``: the (width, height) the ring's slots hold (None: every frame fits, e.g.
    images, whose sizes are all probed); a larger frame (a file that grew) is scaled
    down to fit (:class:`~streampose.stages.frame_fit.FrameFit`).
    """

    ring_policy = "block"

    def __init__(self, *, bound: tuple[int, int] | None = None) -> None:
        self.fit = None if bound is None else FrameFit(bound=bound)

    def start(self, stage: DecodeStage) -> None:
        stage.source.open()
        self._frames: Iterator[Frame] = stage.source.frames()

    def step(self, stage: DecodeStage) -> bool:
        if stage.should_end():
            return self._end(stage)
        try:
            with stage.busy():
                frame = next(self._frames, None)
        finally:
            stage.count_damage()
        if frame is None:
            return self._end(stage)
        if stage.source.names is not None:  # images: skipped ones keep their numbers
            stage.skip_to(frame.index)
        slot = stage.write_slot(stage.ring)
        if slot is None:
            return False
        with stage.busy():
            if self.fit is None:
                stage.write(slot, frame)
            else:
                stage.write(slot, self.fit(stage, frame), placed=self.fit.placed)
        stage.count("frames_in")
        return True

    def stop(self, stage: DecodeStage) -> None:
        stage.source.close()

    @staticmethod
    def _end(stage: DecodeStage) -> bool:
        slot = stage.write_slot(stage.ring)
        if slot is not None:
            stage.write_eos(slot)
        return False


class LivePolicy(DecodePolicy):
    """Cameras: a reader thread, ``drop_oldest``, reconnects with capped backoff.

    ``max_size`` is the (width, height) the ring's slots hold: larger frames (the camera
    changed resolution) are scaled down to fit. ``max_aspect`` (a changing seat, or a
    camera down at start, whose buffers were sized before its camera was known): a
    frame wider than that is padded with black rows at the bottom (its pixels, and so
    the poses' coordinates, unchanged); see :class:`~streampose.stages.frame_fit.FrameFit`.
    The first frame after a drop carries FLAG_DROPPED_BEFORE, the first after a
    reconnect FLAG_RECONNECTED.
    """

    ring_policy = "drop_oldest"

    def __init__(self, *, config: LiveConfig, max_size: tuple[int, int],
                 max_aspect: float | None = None) -> None:
        self.config, self.max_size, self.max_aspect = config, max_size, max_aspect
        self.fit = FrameFit(bound=max_size, max_aspect=max_aspect)

    def start(self, stage: DecodeStage) -> None:
        self._stage, self._flags = stage, 0
        self._source = stage.source  # its own: a seat's stage may get another one
        self.failure: SourceError | None = None
        self._halt, self._lock = threading.Event(), threading.Lock()
        self._reader = threading.Thread(target=self._read_forever, name="reader", daemon=True)
        self._reader.start()

    def step(self, stage: DecodeStage) -> bool:
        time.sleep(POLL_S)
        if not self._reader.is_alive() and self.failure is not None:
            raise self.failure
        if not self._reader.is_alive() or stage.should_end():
            with self._lock:
                self._halt.set()
                self._queue_eos(stage)
            return False
        return True

    def stop(self, stage: DecodeStage) -> None:
        with self._lock:  # a write in progress ends before the ring is closed
            self._halt.set()

    def _queue_eos(self, stage: DecodeStage) -> None:
        queue_eos(stage)

    # -- reader thread ------------------------------------------------------------------

    def _wait_for_pipeline(self) -> None:
        """Read frames once every stage is open: frames decoded while the model loads
        would only be dropped (bounded: PIPELINE_WAIT_S, then read anyway). The first
        connection is made before this wait, while the model loads."""
        control = self._stage.control
        deadline = time.monotonic() + PIPELINE_WAIT_S
        while control is not None and not control.all_open() and time.monotonic() < deadline:
            if self._halt.wait(0.05):
                return

    def _read_forever(self) -> None:
        stage, source, attempt, connected = self._stage, self._source, 0, False
        while not self._halt.is_set():
            try:
                source.open()
                if not connected:  # connect while the model loads; then wait for the stages
                    self._wait_for_pipeline()
                    connected = True
                attempt = self._stream_frames(attempt)
            except SourceError as exc:
                if not connected and not self.config.reconnect:
                    self.failure = exc  # never opened and no retry: the run fails (exit 3)
                    return
                log.warning("%s: %s", stage.name, exc)
            finally:
                source.close()
                if stage.source is source:
                    stage.count_damage()
            if not self.config.reconnect or self._halt.is_set():
                return
            attempt += 1
            delay = backoff_s(attempt, self.config.max_backoff_s)
            what = "lost; reconnecting" if connected else "not reachable yet; retrying"
            log.warning("%s: %s %s in %.1f s (attempt %d)", stage.name, redact(source.uri),
                        what, delay, attempt)  # fmt: skip
            self._halt.wait(delay)

    def _stream_frames(self, attempt: int) -> int:
        """Publish frames until the source ends; returns the updated attempt counter."""
        stage = self._stage
        for frame in self._source.frames():
            if attempt:
                log.warning("%s: reconnected to %s", stage.name, redact(self._source.uri))
                stage.count("reconnects")
                self._flags |= FLAG_RECONNECTED
                attempt = 0
            stage.count_damage()
            if not self._offer(frame):
                break
        if not self._halt.is_set():
            log.warning("%s: %s ended the stream", stage.name, redact(self._source.uri))
        return attempt

    def _offer(self, frame: Frame) -> bool:
        """Write one frame into the ring (dropping if needed); False once halted."""
        stage = self._stage
        with self._lock:
            if self._halt.is_set():
                return False
            stage.count("frames_in")
            got = stage.ring.acquire_write(0.0)
            if got is None or got[1] is not None:
                self._drop()
            if got is None:  # every slot is in flight: this frame's index is a gap too
                stage.skip()
            else:
                with stage.busy():
                    stage.write(got[0], self.fit(stage, frame), flags=self._flags,
                                placed=self.fit.placed)
                self._flags = 0
            return True

    def _drop(self) -> None:
        self._stage.count("dropped")
        self._flags |= FLAG_DROPPED_BEFORE


def queue_eos(stage: DecodeStage) -> None:
    """Queue the stream's end-of-stream (or detach) item in a ``drop_oldest`` ring."""
    deadline = time.monotonic() + LIVE_EOS_WAIT_S
    while time.monotonic() < deadline and not stage.stopping():
        got = stage.ring.acquire_write(POLL_S)  # drop_oldest: never waits
        if got is not None:
            if got[1] is not None:  # the end of the stream evicted a frame: count it
                stage.count("dropped")
            stage.write_eos(got[0])
            return
        time.sleep(POLL_S)
    log.warning("%s: could not queue the end of the stream", stage.name)


class SeatPolicy(DecodePolicy):
    """A seat (:mod:`streampose.cameras.seats`): reads the camera the seat table assigns
    to it, with the policy chosen for it (:func:`policy_for`); idle (waiting for one)
    otherwise.

    When the seat's generation changes, the camera being read is stopped and a detach
    marker (EOS + FLAG_DETACH, ``pts`` = the new generation) is queued behind its frames
    (none before a seat's first camera), then the camera now assigned (if any) is opened
    in this process. A fixed table never changes: the seat reads its one camera, whose
    end (or failure) is the stream's. A changing seat's stream ends (a plain EOS) only
    when the sources stop; a camera that ends is detached and the seat waits.
    """

    def __init__(self, *, seats: SeatTable, settings: StreamSettings, probed: ProbedSource,
                 threads: int = 1, first: Source | None = None,
                 autorotate: bool = True) -> None:
        """``settings``: the run's, which each camera's own adjust; ``probed``: the
        seat's source as probed (its sizes bound the frames, its kind picks the policy:
        a changing seat's stands in for any live camera); ``first``: the source of the
        camera the seat already had when the stage was built (made in the parent, where
        every registered source kind is known), used for that camera; ``autorotate``:
        files turned upright (their display matrix)."""
        self.seats, self.settings, self.probed, self.threads = seats, settings, probed, threads
        self.first, self.autorotate = first, autorotate
        self.ring_policy = _ring_policy(probed)

    def start(self, stage: DecodeStage) -> None:
        self._seen = 0  # the generation acted on
        self._inner: DecodePolicy | None = None
        self._attached = False  # a camera was started since the last detach marker
        self._follow(stage)  # a camera assigned before the start opens with the stage

    def step(self, stage: DecodeStage) -> bool:
        if self._inner is None and stage.control is not None and \
                stage.control.stop_sources.is_set():
            stage.detach_generation = None
            queue_eos(stage)  # the end of the stream: the run is ending
            return False
        self._follow(stage)
        if self._inner is None:
            time.sleep(POLL_S)
            return True
        return self._pump(stage, self._inner)

    def _pump(self, stage: DecodeStage, inner: DecodePolicy) -> bool:
        """One step of the camera's policy; when the camera ends for good (its end is
        queued), a changing seat waits for the next one, a fixed seat's stream ends."""
        try:
            going = inner.step(stage)
        except SourceError as exc:  # never opened, no reconnection
            if not self.seats.changing:
                raise  # the run's own camera: the run fails
            log.error("%s: %s", stage.name, exc)
            queue_eos(stage)  # its detach marker: this camera only
            going = False
        if going:
            return True
        inner.stop(stage)
        self._inner, self._attached = None, False
        return self.seats.changing

    def stop(self, stage: DecodeStage) -> None:
        self._stop_camera(stage)

    def _stop_camera(self, stage: DecodeStage) -> None:
        if self._inner is not None:
            self._inner.stop(stage)
            self._inner = None

    def _follow(self, stage: DecodeStage) -> None:
        """Switch cameras when the seat's assignment changed."""
        if self.seats.generation(stage.stream) != self._seen:
            self._switch(stage)

    def _switch(self, stage: DecodeStage) -> None:
        generation, camera, _ = self.seats.read(stage.stream)
        if self._attached:
            log.info("%s: camera %s detached", stage.name, redact(stage.source.uri))
        self._stop_camera(stage)
        if self._seen:  # behind every frame of the camera that was here (if any): render
            # closes its outputs, then reports the seat drained up to this generation
            stage.detach_generation = generation
            queue_eos(stage)
        self._seen, self._attached = generation, False
        if camera is not None:
            self._attach(stage, camera, generation)

    def _attach(self, stage: DecodeStage, camera: Camera, generation: int) -> None:
        """Read ``camera`` from now on; its end is a detach marker only in a changing
        seat (a fixed seat's camera ends the stream)."""
        live = self.settings.for_camera(camera).live
        source, self.first = self.first, None
        stage.begin_source(source if source is not None and source.uri == camera.url
                           else create_source(camera.url, threads=self.threads, live=live,
                                              autorotate=self.autorotate))
        stage.detach_generation = generation if self.seats.changing else None
        self._inner = policy_for(self.probed, live, max_aspect=self.seats.max_aspect)
        self._inner.start(stage)
        self._attached = True
        via = f", RTSP over {live.rtsp_transport}" if camera.url.lower().startswith("rtsp") \
            else ""
        log.info("%s: camera %r attached (%s%s)", stage.name, camera.name, redact(camera.url),
                 via)


def _first_source(seats: SeatTable, seat: int, settings: StreamSettings,
                  threads: int | None, *, autorotate: bool = True) -> Source | None:
    """The source of the camera ``seat`` has now (a fixed run's, assigned before the
    stages are built), or None."""
    _, camera, _ = seats.read(seat)
    if camera is None:
        return None
    return create_source(camera.url, threads=1 if threads is None else threads,
                         live=settings.for_camera(camera).live, autorotate=autorotate)


def backoff_s(attempt: int, cap_s: float) -> float:
    """Seconds to wait before reconnection ``attempt`` (1, 2, ...): 0.5 s doubling, capped."""
    return min(cap_s, 0.5 * 2.0 ** min(attempt - 1, 10))


def policy_for(source: ProbedSource, live: LiveConfig, *,
               max_aspect: float | None = None) -> DecodePolicy:
    """LivePolicy for a live source, else BlockingPolicy; frames fit the source's slot
    size (``max_aspect``: see LivePolicy; a camera down at start gets a changing
    seat's)."""
    if source.live:
        if max_aspect is None and not source.known:
            max_aspect = SEAT_MAX_ASPECT
        return LivePolicy(config=live, max_size=source.slot_size, max_aspect=max_aspect)
    return BlockingPolicy(bound=source.bound)


def _ring_policy(source: ProbedSource) -> str:
    """The frame ring's policy for ``source``'s policy: ``drop_oldest`` when live."""
    return LivePolicy.ring_policy if source.live else BlockingPolicy.ring_policy
