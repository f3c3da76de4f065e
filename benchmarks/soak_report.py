"""The figures of a soak run (for soak.py): per-process slopes, ranges, frame accounting.

Pure functions over the samples soak.py takes (plain dicts, as written to its --json):
a sample is ``{"t": s, "processes": [{"pid", "role", "rss_mb", "pss_mb", "fds",
"threads"}], "shm": n, "streams": [{"stream", "state", "lag_p95", "dropped", ...}]}``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

S_PER_HOUR = 3600.0


def slope_per_hour(ts: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of ``values`` over ``ts`` (seconds), per hour; None with fewer
    than two distinct times."""
    if len(ts) != len(values):
        raise ValueError(f"{len(ts)} times for {len(values)} values")
    if len(set(ts)) < 2:
        return None
    mean_t, mean_v = statistics.fmean(ts), statistics.fmean(values)
    sxx = sum((t - mean_t) ** 2 for t in ts)
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in zip(ts, values, strict=True))
    return sxy / sxx * S_PER_HOUR


def in_window(samples: Iterable[dict[str, Any]], start_s: float,
              end_s: float = float("inf")) -> list[dict[str, Any]]:
    """The samples taken from ``start_s`` (the warm-up's end) up to, not at, ``end_s``
    (the run's planned end: later samples see its processes exiting)."""
    return [s for s in samples if start_s <= s["t"] < end_s]


def series_by_process(samples: Iterable[dict[str, Any]]) -> dict[int, list[tuple[float, dict]]]:
    """pid -> [(t, that process's sample)], in time order."""
    series: dict[int, list[tuple[float, dict]]] = {}
    for sample in samples:
        for proc in sample["processes"]:
            series.setdefault(proc["pid"], []).append((sample["t"], proc))
    return series


def process_name(pid: int, role: str, stage_pids: dict[int, str]) -> str:
    """``decode0`` for a stage the summary names, else ``role`` (with the pid for a
    stage or child the summary does not know)."""
    if pid in stage_pids:
        return stage_pids[pid]
    return role if role in ("parent", "forkserver", "resource_tracker") else f"{role}-{pid}"


@dataclass(frozen=True)
class ProcessFigures:
    """One process over the measured window (after the warm-up)."""

    name: str
    pid: int
    samples: int
    rss_first_mb: float
    rss_last_mb: float
    rss_slope_mb_h: float | None
    pss_slope_mb_h: float | None
    fds: tuple[int, int]
    threads: tuple[int, int]


def process_figures(pid: int, points: Sequence[tuple[float, dict]],
                    stage_pids: dict[int, str]) -> ProcessFigures:
    """The figures of one process from its (t, sample) points."""
    ts = [t for t, _ in points]
    procs = [p for _, p in points]
    fds = [p["fds"] for p in procs]
    threads = [p["threads"] for p in procs]
    return ProcessFigures(
        name=process_name(pid, procs[-1]["role"], stage_pids), pid=pid, samples=len(points),
        rss_first_mb=procs[0]["rss_mb"], rss_last_mb=procs[-1]["rss_mb"],
        rss_slope_mb_h=slope_per_hour(ts, [p["rss_mb"] for p in procs]),
        pss_slope_mb_h=slope_per_hour(ts, [p["pss_mb"] for p in procs]),
        fds=(min(fds), max(fds)), threads=(min(threads), max(threads)))


def all_process_figures(samples: Sequence[dict[str, Any]],
                        stage_pids: dict[int, str]) -> list[ProcessFigures]:
    """Figures for every process seen in ``samples``, in order of first appearance."""
    return [process_figures(pid, points, stage_pids)
            for pid, points in series_by_process(samples).items()]


def span(values: Iterable[float]) -> tuple[float, float] | None:
    """(min, max), or None when there are no values."""
    values = list(values)
    return (min(values), max(values)) if values else None


def tree_figures(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The whole tree per sample: total RSS (shared pages counted in every process) and
    PSS with their slopes, and ranges of the process count, the fd and thread totals and
    the /dev/shm entries."""
    ts = [s["t"] for s in samples]
    rss = [sum(p["rss_mb"] for p in s["processes"]) for s in samples]
    pss = [sum(p["pss_mb"] for p in s["processes"]) for s in samples]
    return {
        "rss_total_mb": span(rss),
        "rss_total_slope_mb_h": slope_per_hour(ts, rss) if samples else None,
        "pss_total_mb": span(pss),
        "pss_total_slope_mb_h": slope_per_hour(ts, pss) if samples else None,
        "processes": span(len(s["processes"]) for s in samples),
        "fds_total": span(sum(p["fds"] for p in s["processes"]) for s in samples),
        "threads_total": span(sum(p["threads"] for p in s["processes"]) for s in samples),
        "shm_entries": span(s["shm"] for s in samples),
    }


def stream_lag(samples: Sequence[dict[str, Any]], stream: int) -> dict[str, Any]:
    """Lag p95 (median and max over the samples) and the states seen, for one stream."""
    rows = [r for s in samples for r in s["streams"] if r["stream"] == stream]
    lags = [r["lag_p95"] for r in rows if r.get("lag_p95") is not None]
    return {"lag_p95_median_s": statistics.median(lags) if lags else None,
            "lag_p95_max_s": max(lags) if lags else None,
            "states": sorted({r["state"] for r in rows})}


@dataclass(frozen=True)
class FrameCount:
    """One camera's frames at the end of the run, from every place they can be counted."""

    stream: int
    frames_in: int
    frames_out: int
    dropped: int
    json_lines: int
    recorded: int | None
    mqtt_poses: int | None
    mqtt_dropped: int
    reconnects: int

    @property
    def lost(self) -> int:
        """Frames decoded that were neither written nor counted as dropped."""
        return self.frames_in - self.frames_out - self.dropped

    @property
    def json_missing(self) -> int:
        return self.frames_out - self.json_lines

    @property
    def recording_missing(self) -> int | None:
        return None if self.recorded is None else self.frames_out - self.recorded

    @property
    def mqtt_uncounted(self) -> int | None:
        """Pose messages neither received by the soak's subscriber nor counted as dropped
        by the run (QoS 0: around a broker restart some can vanish in flight)."""
        if self.mqtt_poses is None:
            return None
        return self.frames_out - self.mqtt_dropped - self.mqtt_poses


def frame_count(stream: dict[str, Any], *, json_lines: int, recorded: int | None,
                mqtt_poses: int | None) -> FrameCount:
    """A FrameCount from one stream's summary entry and the outputs counted."""
    return FrameCount(stream=stream["stream"], frames_in=stream["frames_in"],
                      frames_out=stream["frames_out"], dropped=stream["dropped"],
                      json_lines=json_lines, recorded=recorded, mqtt_poses=mqtt_poses,
                      mqtt_dropped=stream.get("mqtt_dropped", 0),
                      reconnects=stream.get("reconnects", 0))


def input_gap_s(frames_in: int, fps: float, wall_s: float) -> float:
    """Seconds of the camera's stream that never arrived: the run's wall time less the
    frames decoded at the camera's rate (start-up, outages and reconnects)."""
    return wall_s - frames_in / fps


@dataclass
class Report:
    """Everything soak.py prints and writes."""

    settings: dict[str, Any]
    faults: list[dict[str, Any]]
    processes: list[ProcessFigures]
    tree: dict[str, Any]
    tree_whole_run: dict[str, Any]
    frames: list[FrameCount]
    lag: dict[int, dict[str, Any]]
    outage_s: dict[int, float]
    input_gap_s: dict[int, float]
    wall_s: float
    exit_code: int | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        frames = [{**vars(f), "lost": f.lost, "json_missing": f.json_missing,
                   "recording_missing": f.recording_missing,
                   "mqtt_uncounted": f.mqtt_uncounted} for f in self.frames]
        return {"settings": self.settings, "faults": self.faults,
                "processes": [vars(p) for p in self.processes], "tree": self.tree,
                "tree_whole_run": self.tree_whole_run, "frames": frames,
                "lag": self.lag, "outage_s": self.outage_s, "input_gap_s": self.input_gap_s,
                "wall_s": self.wall_s, "exit_code": self.exit_code, "notes": self.notes}


def _num(value: float | None, fmt: str = "+.1f") -> str:
    return "-" if value is None else format(value, fmt)


def _span(value: Sequence[float] | None, fmt: str = "g") -> str:
    return "-" if value is None else f"{format(value[0], fmt)}..{format(value[1], fmt)}"


def process_lines(processes: Sequence[ProcessFigures]) -> list[str]:
    head = (f"{'process':<18}{'pid':>8}{'n':>5}{'RSS MB first->last':>21}"
            f"{'RSS MB/h':>10}{'PSS MB/h':>10}{'fds':>10}{'threads':>10}")
    rows = [f"{p.name:<18}{p.pid:>8}{p.samples:>5}"
            f"{f'{p.rss_first_mb:.1f} -> {p.rss_last_mb:.1f}':>21}"
            f"{_num(p.rss_slope_mb_h):>10}{_num(p.pss_slope_mb_h):>10}"
            f"{_span(p.fds):>10}{_span(p.threads):>10}" for p in processes]
    return [head, *rows]


def tree_lines(tree: dict[str, Any], label: str) -> list[str]:
    return [f"whole tree ({label}): RSS {_span(tree['rss_total_mb'], '.1f')} MB "
            f"(slope {_num(tree['rss_total_slope_mb_h'])} MB/h), PSS "
            f"{_span(tree['pss_total_mb'], '.1f')} MB "
            f"(slope {_num(tree['pss_total_slope_mb_h'])} MB/h), processes "
            f"{_span(tree['processes'])}, fds {_span(tree['fds_total'])}, threads "
            f"{_span(tree['threads_total'])}, /dev/shm entries {_span(tree['shm_entries'])}"]


def frame_lines(report: Report) -> list[str]:
    lines = []
    for f in report.frames:
        lag = report.lag.get(f.stream, {})
        lines.append(
            f"camera {f.stream}: in {f.frames_in} = out {f.frames_out} + dropped {f.dropped}"
            f" + lost {f.lost}; JSON lines {f.json_lines} (missing {f.json_missing}), "
            f"recorded {_num(f.recorded, 'd')} (missing {_num(f.recording_missing, 'd')}), "
            f"MQTT poses {_num(f.mqtt_poses, 'd')} + dropped {f.mqtt_dropped} "
            f"(uncounted {_num(f.mqtt_uncounted, 'd')}); reconnects {f.reconnects}; "
            f"camera down {report.outage_s.get(f.stream, 0.0):.0f} s, stream missing "
            f"{report.input_gap_s.get(f.stream, 0.0):.0f} s; lag p95 median "
            f"{_num(lag.get('lag_p95_median_s'), '.2f')} s, max "
            f"{_num(lag.get('lag_p95_max_s'), '.2f')} s")
    return lines


def format_report(report: Report) -> str:
    """The text soak.py prints at the end."""
    s = report.settings
    lines = [f"soak: {s['cameras']} camera(s), {report.wall_s / 60:.1f} min, exit "
             f"{report.exit_code}, {len(report.faults)} fault(s) injected; the first "
             f"{s['warmup']:g} min (warm-up) and the shutdown are left out of the slopes",
             *process_lines(report.processes),
             *tree_lines(report.tree, "measured window"),
             *tree_lines(report.tree_whole_run, "whole run"),
             *frame_lines(report), *report.notes,
             *(f"fault at {f['down_at_s']:g} s failed: {f['error']}" for f in report.faults
               if "error" in f)]
    return "\n".join(lines)
