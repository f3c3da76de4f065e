#!/usr/bin/python3
"""A fake live RTSP camera for tests: loops one H.264 file forever, in real time.

Run it with Debian's system Python (it needs ``gi`` with GStreamer and gst-rtsp-server,
which the project's virtualenv does not have)::

    /usr/bin/python3 tests/live/rtsp_server.py --port 8554 --mount /cam0 --file vtest.mp4

It prints ``READY rtsp://127.0.0.1:PORT/MOUNT`` on stdout once it listens (``--port 0``
picks a free port and prints it), binds 127.0.0.1 only, and exits cleanly on SIGTERM or
SIGINT.

How it works (no re-encoding):

* At start the file is demuxed once (``filesrc ! qtdemux ! h264parse``) into memory as
  H.264 access units in Annex-B form, with SPS/PPS repeated before every IDR, plus each
  frame's reorder offset (PTS - DTS, in frames) so B-frames keep their display order.
* Each media (one at a time: the factory is shared by every client) runs
  ``appsrc ! rtph264pay``. A feeder thread pushes one access unit per frame period,
  paced by the pipeline clock. Timestamps are the pipeline's running time: DTS is the
  frame's scheduled send time, PTS = DTS + reorder offset, so they only ever increase,
  across loops as well. Every loop starts on the file's first frame, an IDR.
* If the feeder falls behind (the process was stopped with SIGSTOP, the machine stalled),
  it does not burst the missed frames: it skips to the next IDR of the file and restarts
  its schedule at "now", like a camera whose stream froze and came back.
* A new shared media starts on the file's first frame, so the first client decodes at
  once; a client joining a running media waits for the next IDR (as with a real camera).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

SECOND = Gst.SECOND
MAX_LAG = 0.5  # seconds behind schedule before the feeder resynchronises (skips to an IDR)


@dataclass
class Frame:
    data: bytes
    key: bool
    reorder: Fraction  # (PTS - DTS) in frame periods; 0 without B-frames


@dataclass
class Clip:
    frames: list[Frame]
    caps: str
    rate: Fraction  # the file's frame rate
    keyframes: list[int]

    def next_key(self, index: int) -> int:
        """Index of the first keyframe at or after ``index`` (wrapping to the loop start)."""
        for k in self.keyframes:
            if k >= index:
                return k
        return 0


def log(msg: str) -> None:
    print(f"rtsp_server[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def load_clip(path: str) -> Clip:
    """Demux ``path`` into Annex-B access units (decode order) with reorder offsets."""
    pipeline = Gst.parse_launch(
        "filesrc name=src ! qtdemux ! h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false max-buffers=0 emit-signals=false"
    )
    pipeline.get_by_name("src").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    raw: list[tuple[bytes, int | None, int | None, bool]] = []
    caps = None
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        if caps is None:
            caps = sample.get_caps()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            continue
        data = bytes(info.data)
        buf.unmap(info)
        pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else None
        dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else None
        raw.append((data, pts, dts, not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)))
    bus = pipeline.get_bus()
    err = bus.pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if err is not None:
        gerr, debug = err.parse_error()
        raise SystemExit(f"cannot read {path}: {gerr.message} ({debug})")
    if not raw or caps is None:
        raise SystemExit(f"cannot read {path}: no H.264 video frames (is it H.264 in MP4/MOV?)")
    s = caps.get_structure(0)
    ok, num, den = s.get_fraction("framerate")
    rate = Fraction(num, den) if ok and num > 0 and den > 0 else None
    if rate is None:  # variable/unknown rate: use the median DTS step
        steps = sorted(b[2] - a[2] for a, b in zip(raw, raw[1:]) if a[2] is not None and b[2] is not None)
        step = steps[len(steps) // 2] if steps else SECOND // 25
        rate = Fraction(SECOND, max(1, step))
    period = SECOND / rate  # ns per frame (Fraction)
    frames = []
    for data, pts, dts, key in raw:
        reorder = Fraction(0)
        if pts is not None and dts is not None and pts > dts:
            reorder = Fraction(round(Fraction(pts - dts) / period * 8), 8)
        frames.append(Frame(data, key, reorder))
    # The loop must start on a keyframe: drop anything before the first one.
    first = next((i for i, f in enumerate(frames) if f.key), None)
    if first is None:
        raise SystemExit(f"cannot read {path}: no keyframe")
    frames = frames[first:]
    caps_str = (
        "video/x-h264,stream-format=byte-stream,alignment=au"
        + "".join(
            f",{field}=(int){s.get_value(field)}"
            for field in ("width", "height")
            if s.has_field(field)
        )
    )
    keyframes = [i for i, f in enumerate(frames) if f.key]
    return Clip(frames, caps_str, rate, keyframes)


class Feeder:
    """Pushes the clip into one media's appsrc at real-time pace, looping forever."""

    def __init__(self, appsrc: Gst.Element, clip: Clip, fps: Fraction) -> None:
        self.appsrc = appsrc
        self.clip = clip
        self.period = int(SECOND / fps)  # ns
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout=2)

    def _running_time(self) -> int | None:
        clock = self.appsrc.get_clock()
        if clock is None:
            return None
        return clock.get_time() - self.appsrc.get_base_time()

    def _run(self) -> None:
        clip = self.clip
        n = len(clip.frames)
        index = 0  # position in the clip
        next_ts: int | None = None  # running time of the next frame's DTS
        last_dts = -1
        while not self.stop_event.is_set():
            now = self._running_time()
            if now is None:  # not PLAYING yet
                self.stop_event.wait(0.01)
                continue
            if next_ts is None:
                next_ts = now
            elif now - next_ts > MAX_LAG * SECOND:
                # Fell behind (SIGSTOP, stall): resume on the next IDR, from "now".
                index = clip.next_key(index)
                next_ts = max(now, last_dts + self.period)
            elif next_ts - now > 2 * SECOND:
                # The pipeline's running time went back (it was restarted): follow it,
                # but never let DTS go backwards.
                next_ts = max(now, last_dts + self.period)
            wait = (next_ts - now) / SECOND
            if wait > 0:
                if self.stop_event.wait(wait):
                    break
            frame = clip.frames[index]
            buf = Gst.Buffer.new_wrapped(frame.data)
            buf.dts = next_ts
            buf.pts = next_ts + int(frame.reorder * self.period)
            buf.duration = self.period
            if not frame.key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            ret = self.appsrc.emit("push-buffer", buf)
            if ret == Gst.FlowReturn.FLUSHING:
                # Media shutting down (or pipeline flushing for a state change).
                if self.stop_event.wait(0.05):
                    break
            last_dts = next_ts
            next_ts += self.period
            index = (index + 1) % n


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, clip: Clip, fps: Fraction) -> None:
        super().__init__()
        self.clip = clip
        self.fps = fps
        self.set_shared(True)
        self.set_launch(
            f'( appsrc name=src is-live=true format=time do-timestamp=false block=false '
            f'max-bytes=0 min-latency=0 caps="{clip.caps}" ! '
            f"rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency )"
        )
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(self, _factory, media: GstRtspServer.RTSPMedia) -> None:
        appsrc = media.get_element().get_by_name("src")
        feeder = Feeder(appsrc, self.clip, self.fps)
        def on_unprepared(_m):
            feeder.stop()
            log("media unprepared, feeder stopped")

        media.connect("unprepared", on_unprepared)
        feeder.start()
        log("media configured, feeder started")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: any free)")
    ap.add_argument("--mount", default="/cam0")
    ap.add_argument("--file", required=True, help="H.264 video in MP4/MOV")
    ap.add_argument("--fps", type=float, default=None, help="frame rate to send at (default: the file's)")
    args = ap.parse_args(argv)
    if not args.mount.startswith("/"):
        ap.error("--mount must start with /")

    Gst.init(None)
    clip = load_clip(args.file)
    fps = Fraction(args.fps).limit_denominator(1001) if args.fps else clip.rate
    log(f"{args.file}: {len(clip.frames)} frames, {len(clip.keyframes)} keyframes, "
        f"file rate {float(clip.rate):g} fps, sending at {float(fps):g} fps")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = LoopingFactory(clip, fps)
    # UDP transport: bind the RTP/RTCP ports on loopback too (never 0.0.0.0).
    pool = GstRtspServer.RTSPAddressPool()
    pool.add_range("127.0.0.1", "127.0.0.1", 40000, 49999, 0)
    factory.set_address_pool(pool)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    server.get_mount_points().add_factory(args.mount, factory)

    loop = GLib.MainLoop()
    try:
        source_id = server.attach(None)
    except GLib.Error as exc:
        log(f"cannot listen on 127.0.0.1:{args.port}: {exc.message}")
        return 1
    if source_id == 0:
        log(f"cannot listen on 127.0.0.1:{args.port}")
        return 1
    port = server.get_bound_port()

    def quit_(*_a):
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, quit_)

    # Sweep sessions whose clients vanished without TEARDOWN (killed clients).
    def cleanup():
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add_seconds(2, cleanup)

    print(f"READY rtsp://127.0.0.1:{port}{args.mount}", flush=True)
    t0 = time.monotonic()
    loop.run()
    log(f"stopping after {time.monotonic() - t0:.1f} s")
    GLib.source_remove(source_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
