"""The pure parts of benchmarks/capacity.py: a trial's figures, the stop rule, the table.

A trial is one run over N live cameras; its figures come from two reads of the run's
Prometheus metrics (``--metrics-port``) at the start and the end of its steady window
(:class:`Scrape`): per stream the frames in, out and dropped, and the capture-to-output
latency histogram, so warm-up does not count. Per stream:

- ``lag_p95``: the 95th percentile of the latency of the frames out in the window,
  interpolated in the histogram's bucket as Prometheus' ``histogram_quantile`` does
  (the buckets include 1 s, so "p95 > 1 s" is decided exactly);
- ``drop``: frames lost over frames the camera sent in the window (``fps`` x seconds):
  those the pipeline dropped (ring full) plus those it never read (the camera ran ahead
  of the decoder; :data:`SLACK_FRAMES` are forgiven, the counters being read on the
  run's progress tick).

A trial holds when every stream's lag p95 is <= ``max_lag`` and its drop <= ``max_drop``
and frames came out of every stream. The sweep adds cameras one at a time and stops at the
first trial that does not hold (:func:`next_cameras`); the figure is the largest N that
held (:func:`cameras_held`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from capacity_recall import CameraRecall

Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), ascending; inf last
SLACK_FRAMES = 2  # frames in short of fps x seconds not counted as unread (tick rounding)


@dataclass(frozen=True)
class Scrape:
    """One read of the run's metrics: per stream counters and latency buckets."""

    uptime: float
    frames_in: dict[int, float]
    frames_out: dict[int, float]
    dropped: dict[int, float]
    latency: dict[int, Buckets]
    online: dict[int, bool] = field(default_factory=dict)


def parse_metrics(text: str) -> Scrape:
    """A :class:`Scrape` from the Prometheus text exposition of ``streampose run``."""
    from prometheus_client.parser import text_string_to_metric_families

    counters: dict[str, dict[int, float]] = {"frames_in": {}, "frames_out": {},
                                             "dropped_frames": {}}
    latency: dict[int, Buckets] = {}
    online: dict[int, bool] = {}
    uptime = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            stream = int(labels["stream"]) if "stream" in labels else -1
            counter = name.removeprefix("streampose_").removesuffix("_total")
            if name.endswith("_total") and counter in counters:
                counters[counter][stream] = value
            elif name == "streampose_frame_latency_seconds_bucket":
                latency.setdefault(stream, []).append((float(labels["le"]), value))
            elif name == "streampose_stream_state" and labels.get("state") == "online":
                online[stream] = value == 1.0
            elif name == "streampose_uptime_seconds":
                uptime = value
    return Scrape(uptime=uptime, frames_in=counters["frames_in"],
                  frames_out=counters["frames_out"], dropped=counters["dropped_frames"],
                  latency={s: sorted(b) for s, b in latency.items()}, online=online)


def flowing(scrape: Scrape, streams: int) -> bool:
    """Every stream is online and has put frames out."""
    return all(scrape.online.get(s, False) and scrape.frames_out.get(s, 0) > 0
               for s in range(streams))


def bucket_delta(first: Buckets, last: Buckets) -> Buckets:
    """The window's buckets: ``last`` minus ``first`` (an absent first read counts 0)."""
    before = dict(first)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in last]


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q`` quantile of cumulative ``buckets``, linear within its bucket (the first
    bucket from 0); inf when it falls in the +Inf bucket; None without samples."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return math.inf
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return math.inf


@dataclass
class StreamWindow:
    """One stream over a trial's steady window."""

    stream: int
    frames_in: int
    frames_out: int
    dropped: int
    unread: int  # frames the camera sent that were never read (at least 0)
    drop: float  # (dropped + unread) / frames sent
    lag_p95: float | None  # seconds; inf beyond the histogram's last bound


def stream_window(stream: int, first: Scrape, last: Scrape, fps: float) -> StreamWindow:
    seconds = last.uptime - first.uptime
    frames_in = round(last.frames_in.get(stream, 0) - first.frames_in.get(stream, 0))
    frames_out = round(last.frames_out.get(stream, 0) - first.frames_out.get(stream, 0))
    dropped = round(last.dropped.get(stream, 0) - first.dropped.get(stream, 0))
    sent = max(fps * seconds, float(frames_in), 1.0)
    unread = max(0, round(fps * seconds) - frames_in - SLACK_FRAMES)
    buckets = bucket_delta(first.latency.get(stream, []), last.latency.get(stream, []))
    return StreamWindow(stream=stream, frames_in=frames_in, frames_out=frames_out,
                        dropped=dropped, unread=unread, drop=(dropped + unread) / sent,
                        lag_p95=histogram_quantile(0.95, buckets))


@dataclass(kw_only=True)
class Trial:
    """One run over ``cameras`` live cameras: its steady window and whether it held."""

    cameras: int
    seconds: float
    streams: list[StreamWindow]
    cpu_s: float | None  # CPU seconds of the run's processes in the window
    holds: bool = False
    why: str = ""
    error: str | None = None  # the run failed or never got going
    camera0_recall: CameraRecall | None = None  # on the clip's ground truth, whole run

    @property
    def fps(self) -> float:
        """Frames out per second over every camera (aggregate)."""
        out = sum(s.frames_out for s in self.streams)
        return out / self.seconds if self.seconds > 0 else 0.0

    @property
    def lag_p95(self) -> float | None:
        """The worst stream's lag p95."""
        lags = [s.lag_p95 for s in self.streams if s.lag_p95 is not None]
        return max(lags) if lags else None

    @property
    def drop(self) -> float:
        """The worst stream's drop."""
        return max((s.drop for s in self.streams), default=0.0)

    @property
    def cpu_per_camera(self) -> float | None:
        """CPU seconds per camera per second of the window."""
        if self.cpu_s is None or self.seconds <= 0 or not self.cameras:
            return None
        return self.cpu_s / self.seconds / self.cameras

    @property
    def cpu_ms_per_frame(self) -> float | None:
        """CPU milliseconds per frame out: what a frame costs, whatever else the machine
        runs (cores / (this x fps) cameras would fit a machine of its own)."""
        out = sum(s.frames_out for s in self.streams)
        return None if self.cpu_s is None or not out else 1000 * self.cpu_s / out

    def to_json(self) -> dict[str, Any]:
        lag = self.lag_p95
        return {**asdict(self), "fps": round(self.fps, 3),
                "lag_p95_s": None if lag is None or math.isinf(lag) else round(lag, 3),
                "drop": round(self.drop, 4),
                "cpu_per_camera": _round(self.cpu_per_camera, 3),
                "cpu_ms_per_frame": _round(self.cpu_ms_per_frame, 1)}


def judge(trial: Trial, *, max_lag: float, max_drop: float) -> Trial:
    """Set ``trial.holds`` and ``trial.why`` by the stop rule (module doc)."""
    reasons = [trial.error] if trial.error else []
    for s in trial.streams:
        if s.frames_out <= 0:
            reasons.append(f"stream {s.stream}: no frames out")
        elif s.lag_p95 is None or s.lag_p95 > max_lag:
            reasons.append(f"stream {s.stream}: lag p95 {_seconds(s.lag_p95)} > {max_lag:g} s")
        if s.drop > max_drop:
            reasons.append(f"stream {s.stream}: drops {100 * s.drop:.1f}% > "
                           f"{100 * max_drop:g}%")
    if not trial.streams and not reasons:
        reasons.append("no streams measured")
    trial.holds, trial.why = not reasons, "; ".join(reasons) or "holds"
    return trial


def next_cameras(trials: Sequence[Trial], *, start: int, max_cameras: int) -> int | None:
    """The camera count to try next: ``start``, then one more after each trial that held;
    None after a trial that did not hold or at ``max_cameras``."""
    if not trials:
        return start if start <= max_cameras else None
    last = trials[-1]
    if not last.holds or last.cameras >= max_cameras:
        return None
    return last.cameras + 1


def cameras_held(trials: Iterable[Trial]) -> int:
    """The largest camera count of a trial that held (0 when none did)."""
    return max((t.cameras for t in trials if t.holds), default=0)


@dataclass(kw_only=True)
class Result:
    """One configuration on one clip: its sweep."""

    config: str
    args: str
    clip: str
    trials: list[Trial]
    ceiling: int  # --max-cameras: a sweep that held up to it did not find the limit

    @property
    def held(self) -> int:
        return cameras_held(self.trials)

    @property
    def best(self) -> Trial | None:
        """The trial at the largest camera count that held."""
        return next((t for t in self.trials if t.holds and t.cameras == self.held), None)

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "args": self.args, "clip": self.clip,
                "cameras_held": self.held,
                "limit_found": not (self.held >= self.ceiling),
                "fps_held": None if self.best is None else round(self.best.fps, 3),
                "trials": [t.to_json() for t in self.trials]}


def table(results: Sequence[Result]) -> str:
    """Markdown: per configuration and clip, the cameras held and the figures at that N
    (camera 0's recall / precision on its ground-truth frames among them), then the first
    N that did not hold, its frames out per second, CPU per frame, camera 0's recall and
    why."""
    lines = ["| config | clip | cameras held | fps held | lag p95 s | drops % | "
             "CPU s / camera / s | camera 0 recall / precision | next N: why not |",
             "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        best, failed = r.best, next((t for t in r.trials if not t.holds), None)
        held = f"{r.held}" + ("+" if r.held >= r.ceiling else "")
        figures = ("- | - | - | - | -" if best is None else
                   f"{best.fps:.1f} | {_seconds(best.lag_p95)} | {100 * best.drop:.1f} | "
                   f"{_number(best.cpu_per_camera)} | {_recall(best)}")
        why = "-" if failed is None else (
            f"{failed.cameras} ({failed.fps:.1f} fps out, CPU "
            f"{_number(failed.cpu_ms_per_frame, 0)} ms/frame, camera 0 recall "
            f"{_recall(failed)}): {failed.why}")
        lines.append(f"| {r.config} | {r.clip} | {held} | {figures} | {why} |")
    return "\n".join(lines)


def _recall(trial: Trial) -> str:
    found = trial.camera0_recall
    return "-" if found is None else found.cell()


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.2f}"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def parse_config(text: str) -> tuple[str, str]:
    """``NAME=ARGS`` or ``ARGS`` -> (name, args); the name defaults to the model's stem
    and the other options (``yolo11n-pose --height 960``)."""
    import shlex

    name, sep, rest = text.partition("=")
    if sep and name and not name.startswith("-") and " " not in name:
        return name, rest.strip()
    words = shlex.split(text)
    pairs = list(zip(words, ["", *words[:-1]], strict=True))  # (word, the word before)
    model = next((w for w, prev in pairs if prev == "--model"), None)
    others = [w for w, prev in pairs if w != "--model" and prev != "--model"]
    stem = model.rsplit("/", 1)[-1].removesuffix(".onnx") if model else "default"
    return " ".join([stem, *others]), text.strip()


def configs_from_toml(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[[config]]`` tables with ``name`` and ``args`` (a string or a list of words)."""
    import shlex

    found = []
    for entry in data.get("config", []):
        args = entry.get("args", "")
        text = args if isinstance(args, str) else shlex.join(str(a) for a in args)
        found.append((str(entry.get("name") or parse_config(text)[0]), text))
    return found
