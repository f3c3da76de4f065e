"""Damaged input: decode errors counted, warned about (rate-limited), and given up on.

A source that meets a damaged packet or an unreadable image skips it and tells its
:class:`DamageLog`: the error is counted (``count``: the stream's ``decode_errors``), a
warning naming the frame index is logged (the first :data:`WARN_BURST` at once, then at
most one every :data:`WARN_EVERY_S` seconds, saying how many were not shown; ``finish()``
reports the rest), and after
:data:`MAX_CONSECUTIVE_ERRORS` errors in a row without a good frame the stream is given
up with a :class:`~streampose.errors.SourceError`. See ARCHITECTURE.md (sources).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import av
import av.error

from streampose.errors import SourceError, describe_error

__all__ = ["MAX_CONSECUTIVE_ERRORS", "WARN_EVERY_S", "DamageLog", "decode_packets"]

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 250  # errors in a row (no good frame between): the stream is lost
WARN_EVERY_S = 5.0  # past the burst, at most one damage warning per source in this many s
WARN_BURST = 3  # the first errors of a source, each warned about


class DamageLog:
    """Counts a source's decode errors, warns about them sparingly, gives up on a dead one.

    ``clock`` is injectable for tests (default ``time.monotonic``).
    """

    def __init__(self, name: str, *, limit: int = MAX_CONSECUTIVE_ERRORS,
                 every_s: float = WARN_EVERY_S, burst: int = WARN_BURST,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.limit, self.every_s, self.clock = name, limit, every_s, clock
        self.burst = burst
        self.count = 0  # every error so far
        self.consecutive = 0  # errors since the last good frame
        self.frames = 0  # good frames so far: the index of the next one
        self.discarded = 0  # packets the container marks to drop (edit lists): not damage
        self._hidden = 0  # errors not warned about since the last warning
        self._next_warning = float("-inf")

    def error(self, what: str, reason: str) -> None:
        """One damaged item skipped (``what``: e.g. "damaged data near frame 412");
        SourceError past the limit."""
        self.count += 1
        self.consecutive += 1
        if self.consecutive >= self.limit:
            raise SourceError(f"{self.name}: gave up after {self.consecutive} decode errors "
                              f"in a row (the last: {what}: {reason})")
        now = self.clock()
        if self.count > self.burst and now < self._next_warning:
            self._hidden += 1
            return
        more = f" ({self._hidden} more not shown)" if self._hidden else ""
        log.warning("%s: skipped %s: %s%s", self.name, what, reason, more)
        self._hidden, self._next_warning = 0, now + self.every_s

    def lost(self, n: int, why: str) -> None:
        """``n`` frames that never came out, found at the end (not a run of errors)."""
        if n <= 0:
            return
        self.count += n
        log.warning("%s: %d frame(s) lost (%s)", self.name, n, why)

    def finish(self) -> None:
        """At the end of the stream: how many errors were not shown, and the total."""
        if self._hidden:
            log.warning("%s: %d more decode errors not shown (%d in all)", self.name,
                        self._hidden, self.count)
            self._hidden = 0

    def good(self) -> None:
        """A frame came out: the run of errors is over."""
        self.consecutive = 0
        self.frames += 1


def decode_packets(container: av.container.InputContainer, stream: av.VideoStream,
                   damage: DamageLog, *, resume_demux: bool) -> Iterator[av.VideoFrame]:
    """The frames of ``stream``, skipping packets that fail to decode (each one counted).

    Warnings name ``damage.frames``, the index of the next frame. A demuxing error
    is counted and demuxing resumes where it stopped when ``resume_demux`` (files); else
    (live) it is raised as is: the connection is broken, not one packet.
    """
    packets, sent, out, failed = container.demux(stream), 0, 0, 0
    while True:
        try:
            packet = next(packets, None)
        except av.error.FFmpegError as exc:
            if not resume_demux:
                raise
            damage.error(f"unreadable data near frame {damage.frames}", describe_error(exc))
            packets = container.demux(stream)
            continue
        if packet is None:
            break
        if packet.size and packet.is_discard:
            damage.discarded += 1  # decoded for reference, never shown: not a lost frame
        elif packet.size:
            sent += 1
        frames = _decode(stream, packet, damage)
        failed += frames is None
        out += len(frames or ())
        yield from frames or ()
    # Frame-threaded decoders drop a damaged frame without an error: once there was damage,
    # count what is missing (a packet holds one frame; not checked on healthy streams,
    # where some codecs legitimately differ).
    if damage.count:
        why = f"damaged, dropped by the decoder before frame {damage.frames}"
        damage.lost(sent - out - failed, why)


def _decode(stream: av.VideoStream, packet: Any, damage: DamageLog) -> list[av.VideoFrame] | None:
    try:
        return list(stream.decode(packet))
    except av.error.FFmpegError as exc:
        damage.error(f"damaged data near frame {damage.frames}", describe_error(exc))
        return None
