"""Greedy matching per limb and assembly of connections into people (OpenPose's scheme).

Connections arrive sorted by limb (in skeleton order, a tree walk from the neck) and by
score within a limb. Each keypoint candidate joins at most one connection per limb and
at most one person. A connection whose two ends belong to different people merges them
when their keypoints do not overlap; otherwise it is dropped (the conflict is resolved in
favour of the higher-scoring assignment made earlier).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streampose.pose.paf import LimbCandidates
from streampose.pose.peaks import Peaks
from streampose.pose.skeleton import Skeleton


@dataclass(slots=True)
class _Person:
    parts: list[int]
    score: float = 0.0
    count: int = 0
    alive: bool = True
    limbs: int = field(default=0)


class _Assembler:
    """Keeps people and the owner of each peak while connections are added."""

    def __init__(self, num_keypoints: int, peak_scores: list[float], num_peaks: int) -> None:
        self.k = num_keypoints
        self.peak_scores = peak_scores
        self.owner = [-1] * num_peaks
        self.people: list[_Person] = []

    def add(self, ka: int, kb: int, a: int, b: int, score: float, may_create: bool) -> None:
        pa, pb = self.owner[a], self.owner[b]
        if pa < 0 and pb < 0:
            if may_create:
                self._create(ka, kb, a, b, score)
        elif pb < 0:
            self._attach(pa, kb, b, score)
        elif pa < 0:
            self._attach(pb, ka, a, score)
        elif pa == pb:
            self.people[pa].score += score
        else:
            self._merge(pa, pb, score)

    def _create(self, ka: int, kb: int, a: int, b: int, score: float) -> None:
        parts = [-1] * self.k
        parts[ka], parts[kb] = a, b
        index = len(self.people)
        total = self.peak_scores[a] + self.peak_scores[b] + score
        self.people.append(_Person(parts, total, 2, limbs=1))
        self.owner[a] = self.owner[b] = index

    def _attach(self, p: int, k: int, peak: int, score: float) -> None:
        person = self.people[p]
        if person.parts[k] >= 0:
            return
        person.parts[k] = peak
        person.score += self.peak_scores[peak] + score
        person.count += 1
        person.limbs += 1
        self.owner[peak] = p

    def _merge(self, pa: int, pb: int, score: float) -> None:
        keep, gone = self.people[pa], self.people[pb]
        if any(x >= 0 and y >= 0 for x, y in zip(keep.parts, gone.parts, strict=True)):
            return
        for k, peak in enumerate(gone.parts):
            if peak >= 0:
                keep.parts[k] = peak
                self.owner[peak] = pa
        keep.score += gone.score + score
        keep.count += gone.count
        keep.limbs += gone.limbs + 1
        gone.alive = False


def assemble(peaks: Peaks, limbs: LimbCandidates, skeleton: Skeleton) -> list[_Person]:
    """Greedy per-limb matching fused with person assembly; returns the live people."""
    asm = _Assembler(skeleton.num_keypoints, peaks.score.tolist(), len(peaks.score))
    ends = skeleton.limbs
    used: set[int] = set()
    current = -1
    for limb, a, b, score in zip(limbs.limb.tolist(), limbs.a.tolist(), limbs.b.tolist(),
                                 limbs.score.tolist(), strict=True):
        if limb != current:
            used.clear()
            current = limb
        if a in used or b in used:
            continue
        used.add(a)
        used.add(b)
        ka, kb = ends[limb]
        asm.add(ka, kb, a, b, score, limb not in skeleton.redundant)
    return [p for p in asm.people if p.alive]


def people_to_arrays(people: list[_Person], peaks: Peaks, num_keypoints: int,
                     *, min_parts: int, min_mean_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Filter people and gather their keypoints: ((P, K, 3) float32, (P,) float32)."""
    kept = [p for p in people if p.count >= min_parts and p.score / p.count >= min_mean_score]
    if not kept:
        return np.zeros((0, num_keypoints, 3), np.float32), np.zeros(0, np.float32)
    index = np.array([p.parts for p in kept], np.intp)
    present = index >= 0
    safe = np.where(present, index, 0)
    kp = np.zeros((len(kept), num_keypoints, 3), np.float32)
    kp[..., :2] = peaks.xy[safe]
    kp[..., 2] = peaks.score[safe]
    kp[~present] = 0.0
    scores = np.array([_person_score(p, num_keypoints) for p in kept], np.float32)
    return kp, scores


def _person_score(person: _Person, num_keypoints: int) -> float:
    """Mean of keypoint and connection scores, weighted by how complete the person is."""
    mean = person.score / (person.count + person.limbs)
    return mean * person.count / num_keypoints
