"""Camera 0's person recall in a capacity trial: which clip frame each output frame shows.

A capacity trial's camera loops the clip (vtest.mp4: 795 frames; the 1080p clip: 300) and
the run joins it wherever the loop happens to be; so a live output frame has no clip frame
index to score against ``recall_gt/people.json``. What a run's JSON lines give, and why
this module aligns on ``frame`` rather than ``pts``:

- ``pts`` of a live source is **wall-clock** milliseconds since the run opened the camera
  (streampose/sources/live.py), not the camera's RTP timestamps: on a loaded machine its
  steps jitter far from 1/fps (0.1 s steps seen from 0.01 to 0.23 s), and frames decoded
  in a burst get consecutive milliseconds. ``round(pts * fps)`` does not number frames.
- ``frame`` is the run's decode sequence: it advances by one per decoded frame, frames the
  pipeline dropped included (their numbers are skipped), so across the pipeline's drops
  and the loop's wrap (the server plays the clip as an endless stream, each loop from its
  first frame) ``clip frame = (frame + offset) mod clip frames`` with one ``offset``.
  The offset changes only when frames are lost before decoding: the server skipped ahead
  (tests/live/rtsp_server.py resumes at the next IDR when it fell 0.5 s behind), its RTSP
  queue dropped for a client too slow to read, or the run reconnected (the new connection
  joins the loop elsewhere). Each makes a new offset from there on.
- The test server (tests/live/rtsp_server.py) is left as it is: a loop position it
  published could not be tied to an output frame, the outputs carrying none of the
  camera's timestamps.

So the offset is piecewise constant, and it is found from the poses themselves: camera 0's
poses, frame by frame, against a **reference**, the same configuration run on the whole clip
file (every frame, clip frame = ``frame``). ``agreement`` of an output frame with a clip
frame is ``2 m / (a + b)`` for ``a`` output and ``b`` reference person centres (the mean of
a pose's found keypoints, recall_match's rule) of which ``m`` pair up within ``radius``
pixels (2% of the frame's long side: about 10 px in vtest, where a walker moves 1-2 px a
frame). :func:`align` chooses the offsets (a Viterbi path: the sum of agreements, minus
``switch_cost`` per change of offset), :func:`segments` cuts the path into runs of one
offset and rates each: its mean agreement at its offset (``score``) against the best mean
agreement at an offset more than :data:`DISTINCT` frames away (``runner_up``: neighbouring
offsets agree almost as well, people moving a pixel or two a frame). A segment is trusted
(:class:`Trust`) when it has at least 10 frames, ``score >= 0.3`` and ``score - runner_up
>= 0.2``; the ground-truth frames of other segments are not scored (counted as "not
aligned"), and when none is left recall is unknown, with the reason. The table gives the
weakest scored segment's ``score vs runner_up``. Measured on vtest with the wide-view
configuration (yolo11n-pose, ``--interval 3``, the reference's carried poses on other
frames than the live run's): 0.94-0.96 vs 0.29-0.38, at a loaded machine's 13-40% drops
and with a join 192 frames into the loop.

Scored: every output frame of camera 0 **over the whole time the run was up** (its start-up
and warm-up included: more ground-truth frames), whose aligned clip frame has ground truth,
by recall_match's rule (:func:`recall_match.score_frame`); a ground-truth frame shown by
several loops is scored each time. Frames the pipeline dropped are not scored (the trial's
drops say how many there were).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from recall_match import Person, Pose, Rule, Totals, found_points, score_frame, total

DISTINCT = 5  # frames: offsets this close to the best are the same alignment
SWITCH_COST = 8.0  # agreement a change of offset must win back


@dataclass(frozen=True, kw_only=True)
class Trust:
    """When a segment's alignment is trusted (module docstring)."""

    min_frames: int = 10
    min_score: float = 0.3
    min_margin: float = 0.2


@dataclass(frozen=True, kw_only=True)
class Segment:
    """Output frames ``start``..``end`` (list positions, end excluded) at one offset."""

    start: int
    end: int
    offset: int
    score: float  # mean agreement at ``offset``
    runner_up: float  # best mean agreement at an offset more than DISTINCT frames away
    runner_up_offset: int

    def trusted(self, trust: Trust) -> bool:
        return (self.end - self.start >= trust.min_frames and self.score >= trust.min_score
                and self.score - self.runner_up >= trust.min_margin)


@dataclass(kw_only=True)
class CameraRecall:
    """Camera 0's recall and precision on the ground-truth frames it showed."""

    frames_out: int  # camera 0's output frames (the whole run)
    frames_scored: int  # ground-truth frames scored (a frame shown twice counts twice)
    people: int
    hits: int
    poses: int
    ignored: int
    recall: float | None  # None: unknown (``unknown`` says why)
    precision: float | None
    unknown: str | None = None
    alignment: str = ""  # the weakest scored segment's agreement vs its runner-up's
    unaligned: int = 0  # ground-truth frames shown in segments not trusted (not scored)
    segments: list[Segment] = field(default_factory=list)

    def cell(self) -> str:
        """The table's text: ``recall / precision (N GT frames; alignment ...)`` or why
        unknown."""
        if self.recall is None or self.precision is None:
            return f"unknown: {self.unknown}"
        left = f", {self.unaligned} not aligned" if self.unaligned else ""
        how = f"; {self.alignment}" if self.alignment else ""
        return (f"{self.recall:.2f} / {self.precision:.2f} ({self.frames_scored} GT frames"
                f"{left}{how})")


def centres(poses: Sequence[Pose], rule: Rule) -> np.ndarray:
    """(P, 2): the mean of each pose's found keypoints (poses without any are left out)."""
    found = [pts for pts in (found_points(p, rule.min_score) for p in poses) if pts]
    return np.array([np.mean(pts, axis=0) for pts in found], dtype=float).reshape(-1, 2)


def agreement(out: Sequence[np.ndarray], ref: Sequence[np.ndarray], radius: float
              ) -> np.ndarray:
    """(T, N): ``2 m / (a + b)`` of output frame t's centres against clip frame n's
    (``m``: the smaller of the two counts of centres with a partner within ``radius``)."""
    width = max((len(c) for c in ref), default=0)
    padded = np.full((len(ref), max(width, 1), 2), np.nan)
    for n, c in enumerate(ref):
        padded[n, :len(c)] = c
    counts = np.array([len(c) for c in ref], dtype=float)
    rows = np.zeros((len(out), len(ref)))
    for t, c in enumerate(out):
        if len(c):
            near = np.linalg.norm(padded[:, :, None, :] - c[None, None], axis=-1) <= radius
            m = np.minimum(near.any(axis=1).sum(-1), near.any(axis=2).sum(-1))
            rows[t] = 2 * m / (len(c) + counts)
    return rows


def by_offset(seq: Sequence[int], agree: np.ndarray) -> np.ndarray:
    """(T, N): agreement of output frame t with clip frame (seq[t] + offset) mod N."""
    n = agree.shape[1]
    index = (np.asarray(seq)[:, None] + np.arange(n)[None]) % n
    return np.take_along_axis(agree, index, axis=1)


def align(seq: Sequence[int], agree: np.ndarray, switch_cost: float = SWITCH_COST
          ) -> list[int]:
    """The offset of each output frame: the path of most agreement, ``switch_cost`` per
    change (Viterbi; staying wins ties)."""
    gain = by_offset(seq, agree)
    if not len(gain):
        return []
    score, stays, jumps = gain[0].copy(), [], []
    for row in gain[1:]:
        best = int(score.argmax())
        stay = score >= score[best] - switch_cost
        score = np.where(stay, score, score[best] - switch_cost) + row
        stays.append(stay)
        jumps.append(best)
    offsets = [int(score.argmax())]
    for stay, best in zip(reversed(stays), reversed(jumps), strict=True):
        offsets.append(offsets[-1] if stay[offsets[-1]] else best)
    return offsets[::-1]


def segments(seq: Sequence[int], agree: np.ndarray, offsets: Sequence[int],
             distinct: int = DISTINCT) -> list[Segment]:
    """The runs of one offset in ``offsets``, each with its score and runner-up."""
    gain, found, start = by_offset(seq, agree), [], 0
    for end in range(1, len(offsets) + 1):
        if end == len(offsets) or offsets[end] != offsets[start]:
            found.append(_rate(gain[start:end], start, end, offsets[start], distinct))
            start = end
    return found


def _rate(gain: np.ndarray, start: int, end: int, offset: int, distinct: int) -> Segment:
    means = gain.mean(axis=0)
    n = len(means)
    apart = np.abs((np.arange(n) - offset + n // 2) % n - n // 2) > distinct
    other = int(np.flatnonzero(apart)[means[apart].argmax()]) if apart.any() else offset
    return Segment(start=start, end=end, offset=offset, score=float(means[offset]),
                   runner_up=float(means[other]) if apart.any() else 0.0,
                   runner_up_offset=other)


def camera_recall(out: Mapping[int, Sequence[Pose]], reference: Mapping[int, Sequence[Pose]],
                  truth: Mapping[int, Sequence[Person]], *, radius: float,
                  rule: Rule | None = None, trust: Trust = Trust()) -> CameraRecall:
    """Recall and precision of ``out`` (frame -> poses, one camera) on ``truth`` (clip
    frame -> people), its frames aligned to ``reference`` (clip frame -> poses, every
    frame of the clip) as the module docstring says."""
    rule = rule or Rule()
    seq = sorted(out)
    clip = max(reference, default=-1) + 1
    if not seq or not clip:
        return unknown(len(seq), "no output frames" if not seq else "empty reference")
    agree = agreement([centres(out[f], rule) for f in seq],
                      [centres(reference.get(n, ()), rule) for n in range(clip)], radius)
    parts = segments(seq, agree, align(seq, agree))
    showing = [s for s in parts if any(_clip(seq, t, s, clip) in truth
                                       for t in range(s.start, s.end))]
    shown = [(s.trusted(trust), seq[t], _clip(seq, t, s, clip)) for s in showing
             for t in range(s.start, s.end) if _clip(seq, t, s, clip) in truth]
    if not any(ok for ok, _, _ in shown):
        return unknown(len(seq), _why_none(showing, trust), parts)
    totals = total(score_frame(out[f], truth[n], rule) for ok, f, n in shown if ok)
    found = _known(len(seq), totals, parts)
    found.alignment = _quality([s for s in showing if s.trusted(trust)], len(parts))
    found.unaligned = sum(not ok for ok, _, _ in shown)
    return found


def _quality(scored: Sequence[Segment], count: int) -> str:
    """``alignment A vs B``: the weakest scored segment's agreement and runner-up's."""
    weakest = min(scored, key=lambda s: s.score - s.runner_up)
    more = f" (weakest of {count} segments)" if count > 1 else ""
    return f"alignment {weakest.score:.2f} vs {weakest.runner_up:.2f}{more}"


def _clip(seq: Sequence[int], t: int, segment: Segment, clip: int) -> int:
    return (seq[t] + segment.offset) % clip


def _known(frames_out: int, t: Totals, parts: list[Segment]) -> CameraRecall:
    return CameraRecall(frames_out=frames_out, frames_scored=t.frames, people=t.people,
                        hits=t.hits, poses=t.poses, ignored=t.ignored,
                        recall=round(t.recall, 3), precision=round(t.precision, 3),
                        segments=parts)


def unknown(frames_out: int, why: str, parts: list[Segment] | None = None) -> CameraRecall:
    """Recall unknown, and ``why``."""
    return CameraRecall(frames_out=frames_out, frames_scored=0, people=0, hits=0, poses=0,
                        ignored=0, recall=None, precision=None, unknown=why,
                        segments=parts or [])


def _why_none(showing: Sequence[Segment], trust: Trust) -> str:
    """Why no ground-truth frame was scored (``showing``: the segments that show one)."""
    if not showing:
        return "no ground-truth frame among the output frames"
    worst = min(showing, key=lambda s: s.score - s.runner_up)
    return (f"alignment ambiguous (agreement {worst.score:.2f} at offset {worst.offset} "
            f"vs {worst.runner_up:.2f} at {worst.runner_up_offset} over "
            f"{worst.end - worst.start} frames; trusted from {trust.min_score:g}, "
            f"margin {trust.min_margin:g}, {trust.min_frames} frames)")
