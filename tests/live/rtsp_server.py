#!/usr/bin/python3
"""A fake live RTSP camera for tests: loops one H.264 file forever, in real time.

Run it with Debian's system Python (it needs ``gi`` with GStreamer and gst-rtsp-server,
which the project's virtualenv does not have; ``.ci/apt-live.sh`` installs them)::

    /usr/bin/python3 tests/live/rtsp_server.py --port 8554 --mount /cam0 --file vtest.mp4

It prints ``READY rtsp://127.0.0.1:PORT/MOUNT`` on stdout once it listens (``--port 0``
picks a free port and prints it) and nothing else there (logs go to stderr). It binds
127.0.0.1 only (RTSP, and RTP/RTCP ports for UDP clients), and exits with status 0 on
SIGTERM or SIGINT. ``--watch-parent`` makes it exit when its parent process goes away.

How it works (no re-encoding; about 1 % of a core at 480x360, 10 fps):

* At start the file (MP4/MOV/MKV/TS with H.264) is demuxed once
  (``filesrc ! parsebin ! h264parse``) into memory as Annex-B access units, SPS/PPS
  before every IDR, each with its reorder offset (PTS - DTS, in frames) so B-frames keep
  their display order. Playback starts at the first IDR.
* Clients share one media (a shared factory): ``appsrc ! rtph264pay``. A feeder thread
  pushes one access unit per frame period (``--fps``, default the file's rate), paced by
  the pipeline clock. DTS is the frame's scheduled time in the pipeline's running time
  and PTS = DTS + reorder offset, so timestamps keep increasing across loops (the file
  plays as if it were endless: each loop starts on its first frame, an IDR).
* A new media (the first client after none) starts on the file's first frame: the feeder
  holds it while the media waits for the client's PLAY rather than queue stale frames,
  so that client decodes at once, without a burst. A client joining a running media
  waits for the next IDR, as with a real camera (vtest.mp4: one every 6.4 s).
* If the feeder falls behind (the process was SIGSTOPped, the machine stalled), it does
  not burst the missed frames: it resumes "now" at the file's next IDR, like a camera
  whose stream froze. Timestamps jump forward by the freeze; they never go back.
* A client that stops reading does not hold up the others (the RTSP server drops for
  it); sessions of UDP clients that vanish end after the RTSP session timeout.
"""

from __future__ import annotations

import argparse
import itertools
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
    idr: bool  # an IDR access unit: decoding can (re)start here
    reorder: Fraction  # (PTS - DTS) in frame periods; 0 without B-frames


@dataclass
class Clip:
    frames: list[Frame]
    caps: str
    rate: Fraction  # the file's frame rate
    idrs: list[int]

    def next_idr(self, index: int) -> int:
        """Index of the first IDR at or after ``index`` (wrapping to the loop start)."""
        for k in self.idrs:
            if k >= index:
                return k
        return 0


def log(msg: str) -> None:
    print(f"rtsp_server[{os.getpid()}]: {msg}", file=sys.stderr, flush=True)


def is_idr(au: bytes) -> bool:
    """Whether an Annex-B access unit holds an IDR slice (NAL type 5): a clean start.

    Non-IDR I-frames are not enough: B-frames after them may reference earlier frames.
    """
    pos = au.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(au):
        if au[pos + 3] & 0x1F == 5:
            return True
        pos = au.find(b"\x00\x00\x01", pos + 3)
    return False


def load_clip(path: str) -> Clip:
    """Demux ``path`` into Annex-B access units (decode order) with reorder offsets."""
    pipeline = Gst.parse_launch(
        "filesrc name=src ! parsebin ! h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false max-buffers=0 emit-signals=false"
    )
    pipeline.get_by_name("src").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    raw: list[tuple[bytes, int | None, int | None, bool]] = []
    caps = None
    try:
        while True:
            err = bus.pop_filtered(Gst.MessageType.ERROR)
            if err is not None:
                gerr, _debug = err.parse_error()
                raise SystemExit(f"cannot read {path}: {gerr.message} (is it H.264 video?)")
            sample = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
            if sample is None:
                if sink.get_property("eos"):
                    break
                continue
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
            raw.append((data, pts, dts, is_idr(data)))
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not raw or caps is None:
        raise SystemExit(f"cannot read {path}: no H.264 video frames in it")
    s = caps.get_structure(0)
    # Frame rate and reorder offsets from the PTS alone (Matroska has no DTS; in MP4 this
    # gives the file's DTS back): in decode order, frame i's DTS is the i-th smallest PTS,
    # minus the stream's reorder delay (whatever keeps every DTS <= its PTS).
    pts_list = [p for _, p, _, _ in raw]
    if all(p is not None for p in pts_list):
        order = sorted(pts_list)
        delay = max(0, *(o - p for o, p in zip(order, pts_list, strict=True)))
        offsets = [p - o + delay for o, p in zip(order, pts_list, strict=True)]
    else:  # no usable PTS: decode order is display order
        order = [d for _, _, d, _ in raw if d is not None]
        offsets = [0] * len(raw)
    steps = sorted(b - a for a, b in itertools.pairwise(order) if b > a)
    if steps:  # the median step (qtdemux's caps rate comes from the duration: skewed)
        rate = Fraction(SECOND, steps[len(steps) // 2]).limit_denominator(1001)
    else:
        ok, num, den = s.get_fraction("framerate")
        rate = Fraction(num, den) if ok and num > 0 and den > 0 else Fraction(25)
    period = SECOND / rate  # ns per frame (Fraction)
    frames = [
        Frame(data, idr, Fraction(round(Fraction(offset) / period * 8), 8))
        for (data, _, _, idr), offset in zip(raw, offsets, strict=True)
    ]
    # The loop must start on an IDR: drop anything before the first one.
    first = next((i for i, f in enumerate(frames) if f.idr), None)
    if first is None:
        raise SystemExit(f"cannot read {path}: no IDR frame to start the loop on")
    frames = frames[first:]
    caps_str = (
        "video/x-h264,stream-format=byte-stream,alignment=au"
        + "".join(
            f",{field}=(int){s.get_value(field)}"
            for field in ("width", "height")
            if s.has_field(field)
        )
    )
    idrs = [i for i, f in enumerate(frames) if f.idr]
    return Clip(frames, caps_str, rate, idrs)


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
        next_ts: int | None = None  # running time for the next frame's DTS
        last_dts: int | None = None
        while not self.stop_event.is_set():
            now = self._running_time()
            if now is None:  # the pipeline has no clock yet (not PLAYING)
                self.stop_event.wait(0.01)
                continue
            if self.appsrc.get_property("current-level-buffers") >= 2:
                # Nothing downstream takes what we push: the media is waiting for its
                # first PLAY (it blocks after the first frame, which yields the SDP).
                # Hold the clip here rather than queue stale frames, so the first client
                # starts on a fresh IDR without a burst.
                next_ts = None
                self.stop_event.wait(0.005)
                continue
            if next_ts is None:
                next_ts = now if last_dts is None else max(now, last_dts + self.period)
            elif now - next_ts > MAX_LAG * SECOND:
                # Fell behind (SIGSTOP, a stall): do not burst the missed frames; resume
                # "now" on the next IDR, like a camera whose stream froze.
                skip_to = clip.next_idr(index)
                log(f"feeder {(now - next_ts) / SECOND:.1f} s behind: resuming at frame "
                    f"{skip_to} (an IDR) instead of {index}")
                index = skip_to
                next_ts = max(now, last_dts + self.period)
            elif next_ts - now > 2 * SECOND:
                # The running time went back (the pipeline restarted): follow it, but
                # never let DTS go backwards.
                next_ts = max(now, last_dts + self.period)
            wait = (next_ts - now) / SECOND
            if wait > 0 and self.stop_event.wait(wait):
                break
            frame = clip.frames[index]
            buf = Gst.Buffer.new_wrapped(frame.data)
            buf.dts = next_ts
            buf.pts = next_ts + int(frame.reorder * self.period)
            buf.duration = self.period
            if not frame.idr:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                # FLUSHING: the media is shutting down; unprepared will stop us.
                self.stop_event.wait(0.05)
            last_dts = next_ts
            next_ts += self.period
            index = (index + 1) % n


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """A shared factory whose media push the looping clip from a :class:`Feeder`."""

    def __init__(self, clip: Clip, fps: Fraction) -> None:
        super().__init__()
        self.clip = clip
        self.fps = fps
        self.feeders: set[Feeder] = set()
        self.set_shared(True)
        self.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false block=false "
            f'min-latency=0 caps="{clip.caps}" ! rtph264pay name=pay0 pt=96 config-interval=0 )'
        )
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(self, _factory, media: GstRtspServer.RTSPMedia) -> None:
        feeder = Feeder(media.get_element().get_by_name("src"), self.clip, self.fps)
        self.feeders.add(feeder)

        def on_unprepared(_media) -> None:
            feeder.stop()
            self.feeders.discard(feeder)
            log("media unprepared (no clients left)")

        media.connect("unprepared", on_unprepared)
        feeder.start()
        log("media created for the first client")

    def stop_all(self) -> None:
        for feeder in list(self.feeders):
            feeder.stop()


def listen(server: GstRtspServer.RTSPServer, port: int, patience: float) -> int:
    """Attach the server (retrying up to ``patience`` s while the port is busy); 0 if it fails."""
    deadline = time.monotonic() + patience
    while True:
        source_id = server.attach(None)
        if source_id or time.monotonic() >= deadline:
            return source_id
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: a free one)")
    ap.add_argument("--mount", default="/cam0", help="path of the stream (default /cam0)")
    ap.add_argument("--file", required=True, help="H.264 video in MP4/MOV/MKV, sent as is")
    ap.add_argument("--fps", type=float, default=None,
                    help="frames per second to send (default: the file's rate)")
    ap.add_argument("--bind-timeout", type=float, default=5.0,
                    help="keep retrying a busy port this long (s) before giving up")
    ap.add_argument("--watch-parent", action="store_true",
                    help="exit when the parent process goes away (for test harnesses)")
    args = ap.parse_args(argv)
    if not args.mount.startswith("/") or len(args.mount) < 2:
        ap.error("--mount must look like /cam0")
    if args.fps is not None and args.fps <= 0:
        ap.error("--fps must be positive")
    parent = os.getppid()

    Gst.init(None)
    clip = load_clip(args.file)
    fps = Fraction(args.fps).limit_denominator(1001) if args.fps else clip.rate
    log(f"{args.file}: {len(clip.frames)} frames, IDRs at {clip.idrs[:8]}"
        f"{'...' if len(clip.idrs) > 8 else ''}, file rate {float(clip.rate):g} fps, "
        f"sending at {float(fps):g} fps")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = LoopingFactory(clip, fps)
    # RTP over UDP binds its ports from this pool: loopback only, never 0.0.0.0.
    pool = GstRtspServer.RTSPAddressPool()
    pool.add_range("127.0.0.1", "127.0.0.1", 40000, 49999, 0)
    factory.set_address_pool(pool)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    server.get_mount_points().add_factory(args.mount, factory)

    source_id = listen(server, args.port, args.bind_timeout)
    if not source_id:
        log(f"cannot listen on 127.0.0.1:{args.port} (port in use?)")
        return 1
    url = f"rtsp://127.0.0.1:{server.get_bound_port()}{args.mount}"

    loop = GLib.MainLoop()

    def on_signal(signum: int) -> bool:
        log(f"got {signal.Signals(signum).name}, stopping")
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, on_signal, sig)

    def housekeeping() -> bool:
        # Drop sessions whose clients vanished without a TEARDOWN (after their timeout).
        server.get_session_pool().cleanup()
        if args.watch_parent and os.getppid() != parent:
            log("parent process gone, stopping")
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add(500, housekeeping)

    print(f"READY {url}", flush=True)
    loop.run()
    factory.stop_all()
    GLib.source_remove(source_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
