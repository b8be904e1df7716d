"""ByteTrack (Zhang et al., ECCV 2022), our own: the association rules of supervision 0.27's `sv.ByteTrack`, with its
state held as plain values we own and the Kalman filter run for all of a frame's tracks at once.

Why our own: the analytics state must survive a library upgrade unchanged (supervision's tracker internals are
private and later releases drop the trackers), and supervision's per-track Kalman update (scipy's Cholesky per track,
in Python) was 80 % of an analytics event's CPU time. The rules are kept step for step, quirks included, so counts
stay what they were tuned to be (tests/streams/analytics/test_bytetrack.py runs both on the same detections):
 1. detections above `activation` are "high", those in (0.1, activation) "low";
 2. confirmed tracks and lost tracks are predicted and matched to the high detections on IoU fused with the score
    (`matching` threshold); a matched lost track is re-found;
 3. tracks still unmatched and tracked are matched to the low detections (IoU, 0.5); those still unmatched are lost;
 4. unconfirmed tracks (started last frame) are matched to the remaining high detections (fused, 0.7), else removed;
 5. remaining high detections at or above `activation + 0.1` start tracks; lost tracks older than `max_time_lost`
    frames are removed (one frame later than they are marked: the removed list subtracted from the lost tracks is the
    previous frame's, as upstream), and a tracked/lost pair overlapping at IoU > 0.85 keeps only the older track.
All arithmetic is float64 (upstream starts a track's mean in float32); a restored state computes exactly as the one
saved, since the state is these arrays and counters, byte for byte.

The covariance is kept as what it is: every matrix of this filter (motion, noise, projection) keeps each axis
(x, y, aspect, h) apart from the others, coupled only to its own velocity, so upstream's 8x8 covariance is four 2x2
symmetric blocks and all its other entries stay exact zeros. A track holds those blocks as a 4x3 array (per axis:
position variance, position-velocity covariance, velocity variance): a fifth of the numbers to store and the filter
steps become element-wise (the results agree with the 8x8 products to rounding; the tests compare ids exactly).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from streams.analytics import kernels
from streams.analytics.kernels import POS, VEL

__all__ = ["LOST", "REMOVED", "TRACKED", "ByteTrack", "Track", "blocks", "distance"]

F64 = npt.NDArray[np.float64]
TRACKED, LOST, REMOVED = 1, 2, 3  # the values of upstream's TrackState (New, 0, is never kept)


class Track:
    """One track: Kalman mean (x, y, aspect, h and their velocities), covariance blocks (4x3, see the module's
    docstring) and its bookkeeping."""

    __slots__ = (
        "activated",
        "box",
        "cov",
        "eid",
        "frame_id",
        "iid",
        "mean",
        "score",
        "start_frame",
        "state",
        "tracklet_len",
    )

    def __init__(self, mean: F64, cov: F64, score: float) -> None:
        self.mean, self.cov, self.score = mean, cov, score
        self.box = kernels.boxes(mean[None, :])[0]  # xyxy of the mean, kept with it
        self.state, self.activated = TRACKED, False
        self.start_frame = self.frame_id = self.tracklet_len = 0
        self.iid, self.eid = -1, -1


class _Det:
    """A detection of this frame: its box as upstream holds it (float32 corners via top-left, width, height), its
    (x, y, aspect, h) measurement and its score, as Python floats (each exactly its float32 or float64 value)."""

    __slots__ = ("score", "tlbr", "xyah")

    def __init__(self, tlbr: list[float], xyah: list[float], score: float) -> None:
        self.tlbr, self.xyah, self.score = tlbr, xyah, score


def _dets(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], activation: float
) -> tuple[list[_Det], list[_Det]]:
    """The frame's detections with upstream's conversions (kernels.measure), in input order, split as upstream
    does: scoring over `activation`, and the low ones over 0.1 and under it. The thresholds are compared in float32,
    as upstream's numpy comparisons of float32 scores do."""
    act, low = float(np.float32(activation)), float(np.float32(0.1))
    tlbr, xyah = kernels.measure(boxes)
    tl, xy = tlbr.tolist(), xyah.tolist()
    high_dets, low_dets = [], []
    for i, s in enumerate(scores.tolist()):
        if s > act:
            high_dets.append(_Det(tl[i], xy[i], s))
        elif low < s < act:
            low_dets.append(_Det(tl[i], xy[i], s))
    return high_dets, low_dets


def _corners(dets: list[_Det]) -> npt.NDArray[np.float32]:
    return np.array([d.tlbr for d in dets], np.float32).reshape(-1, 4)


def _tlbr(tracks: list[Track]) -> F64:
    if not tracks:
        return np.empty((0, 4))
    return np.array([t.box for t in tracks])


def assign(cost: npt.NDArray[Any], thresh: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching keeping pairs at or under `thresh`, the unmatched rows and the unmatched columns."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return [], list(range(rows)), list(range(cols))
    cost = np.where(cost > thresh, thresh + 1e-4, cost)  # in cost's dtype, as upstream's in-place assignment
    r, c = linear_sum_assignment(cost)
    limit = float(cost.dtype.type(thresh))  # upstream compares in cost's dtype (float32)
    matches = [(i, j) for i, j, v in zip(r.tolist(), c.tolist(), cost[r, c].tolist(), strict=True) if v <= limit]
    # The unmatched in the order of upstream's `tuple(set(range(n)) - set(matched))`: a set's order, not ascending
    # (with 9 detections, 8 comes before 5): it decides which new track gets the lower id.
    return matches, list(set(range(rows)) - {i for i, _ in matches}), list(set(range(cols)) - {j for _, j in matches})


def _fused(tracks: list[Track], dets: list[_Det]) -> npt.NDArray[np.float32]:
    return kernels.distance(_tlbr(tracks), _corners(dets), np.array([d.score for d in dets], np.float32))


_NO_SCORES = np.empty(0, np.float32)


def distance(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """1 - IoU of boxes (float32, as upstream)."""
    return kernels.distance(a, b, _NO_SCORES)


def _joint(a: list[Track], b: list[Track]) -> list[Track]:
    seen: set[int] = set()
    out = []
    for t in (*a, *b):
        if t.iid not in seen:
            seen.add(t.iid)
            out.append(t)
    return out


def _sub(a: list[Track], ids: set[int]) -> list[Track]:
    out: dict[int, Track] = {}
    for t in a:
        out[t.iid] = t  # a later duplicate replaces an earlier one in its place, as upstream's dict does
    return [t for i, t in out.items() if i not in ids]


def _predict(tracks: list[Track]) -> None:
    if not tracks:
        return
    mean, cov, boxes = kernels.predict(
        np.array([t.mean for t in tracks]),
        np.array([t.cov for t in tracks]),
        np.array([t.state == TRACKED for t in tracks]),
    )
    for i, t in enumerate(tracks):
        t.mean, t.cov, t.box = mean[i], cov[i], boxes[i]


def _correct(pairs: list[tuple[Track, _Det]]) -> None:
    """The Kalman correction of every (track, detection) pair of the frame, in one batch."""
    if not pairs:
        return
    mean, cov, boxes = kernels.correct(
        np.array([t.mean for t, _ in pairs]), np.array([t.cov for t, _ in pairs]), np.array([d.xyah for _, d in pairs])
    )
    for i, (t, _) in enumerate(pairs):
        t.mean, t.cov, t.box = mean[i], cov[i], boxes[i]


def blocks(cov8: npt.NDArray[Any]) -> F64:
    """The 4x3 covariance blocks of an 8x8 Kalman covariance (a version-2 or -3 state's): per axis k, the entries
    (k, k), (k, k + 4) and (k + 4, k + 4); the others are zeros in every covariance this filter makes."""
    k = np.arange(4)
    c = np.asarray(cov8, np.float64)
    return np.stack([c[k, k], c[k, k + 4], c[k + 4, k + 4]], axis=1)


class ByteTrack:
    def __init__(self, activation: float, matching: float, max_time_lost: int, min_consecutive: int) -> None:
        self.activation, self.matching = activation, matching
        self.det_thresh = activation + 0.1
        self.max_time_lost, self.min_consecutive = max_time_lost, min_consecutive
        self.frame_id = 0
        self.next_iid, self.next_eid = 0, 1
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.removed: list[int] = []  # internal ids removed in the last frame

    def _new_eid(self) -> int:
        self.next_eid += 1
        return self.next_eid - 1

    def _start(self, d: _Det, fid: int) -> Track:
        m = d.xyah
        h = m[3]
        p, v = 2 * POS * h, 10 * VEL * h  # a new track's spread: multiples of the filter's noise weights
        var = np.square(np.array([[p, 0.0, v], [p, 0.0, v], [1e-2, 0.0, 1e-5], [p, 0.0, v]]))
        t = Track(np.array([*m, 0.0, 0.0, 0.0, 0.0]), var, d.score)
        t.iid, self.next_iid = self.next_iid, self.next_iid + 1
        t.activated = fid == 1
        if self.min_consecutive == 1:
            t.eid = self._new_eid()
        t.frame_id = t.start_frame = fid
        return t

    def _matched(self, t: Track, d: _Det, fid: int, pairs: list[tuple[Track, _Det]]) -> None:
        """upstream's STrack.update (bookkeeping now, the Kalman correction batched in `pairs`)."""
        t.frame_id = fid
        t.tracklet_len += 1
        pairs.append((t, d))
        t.state = TRACKED
        if t.tracklet_len == self.min_consecutive:
            t.activated = True
            if t.eid == -1:
                t.eid = self._new_eid()
        t.score = d.score

    def update(self, boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]) -> list[Track]:
        """One frame's detections (xyxy and confidence, float32); the confirmed tracks after it."""
        self.frame_id += 1
        fid = self.frame_id
        activated: list[Track] = []
        refind: list[Track] = []
        lost_now: list[Track] = []
        removed_now: list[Track] = []
        pairs: list[tuple[Track, _Det]] = []
        dets, dets_low = _dets(boxes, scores, self.activation)
        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]

        pool = _joint(confirmed, self.lost)
        _predict(pool)
        matches, u_track, u_det = assign(_fused(pool, dets), self.matching)
        for i, j in matches:
            self._matched_or_refound(pool[i], dets[j], fid, pairs, activated, refind)

        rest = [pool[i] for i in u_track if pool[i].state == TRACKED]
        cost = distance(_tlbr(rest), _corners(dets_low))
        matches, u_rest, _ = assign(cost, 0.5)
        for i, j in matches:
            self._matched_or_refound(rest[i], dets_low[j], fid, pairs, activated, refind)
        for i in u_rest:
            if rest[i].state != LOST:
                rest[i].state = LOST
                lost_now.append(rest[i])

        dets = [dets[j] for j in u_det]
        matches, u_unconf, u_det = assign(_fused(unconfirmed, dets), 0.7)
        for i, j in matches:
            self._matched(unconfirmed[i], dets[j], fid, pairs)
            activated.append(unconfirmed[i])
        for i in u_unconf:
            unconfirmed[i].state = REMOVED
            removed_now.append(unconfirmed[i])

        for j in u_det:
            if np.float32(dets[j].score) >= np.float32(self.det_thresh):  # in float32, as upstream compares
                activated.append(self._start(dets[j], fid))
        for t in self.lost:
            if fid - t.frame_id > self.max_time_lost:
                t.state = REMOVED
                removed_now.append(t)
        _correct(pairs)

        tracked = _joint(_joint([t for t in self.tracked if t.state == TRACKED], activated), refind)
        lost = _sub(self.lost, {t.iid for t in tracked})
        lost = _sub([*lost, *lost_now], set(self.removed))
        self.removed = [t.iid for t in removed_now]
        self.tracked, self.lost = _dedupe(tracked, lost)
        return [t for t in self.tracked if t.activated]

    def _matched_or_refound(
        self, t: Track, d: _Det, fid: int, pairs: list[tuple[Track, _Det]], act: list[Track], refind: list[Track]
    ) -> None:
        if t.state == TRACKED:
            self._matched(t, d, fid, pairs)
            act.append(t)
        else:  # upstream's re_activate: a lost (or just removed) track found again
            pairs.append((t, d))
            t.tracklet_len = 0
            t.state = TRACKED
            t.frame_id = fid
            t.score = d.score
            refind.append(t)

    def alive(self) -> set[int]:
        return {t.eid for t in (*self.tracked, *self.lost) if t.eid >= 0}

    @staticmethod
    def boxes(tracks: list[Track]) -> F64:
        """The tracks' current boxes, xyxy."""
        return _tlbr(tracks)


def _dedupe(a: list[Track], b: list[Track]) -> tuple[list[Track], list[Track]]:
    """Of a tracked and a lost track overlapping at IoU > 0.85, keep only the one tracked for longer."""
    if not a or not b:
        return a, b
    dist = distance(_tlbr(a), _tlbr(b))
    drop_a: set[int] = set()
    drop_b: set[int] = set()
    for i, j in zip(*np.where(dist < 0.15), strict=True):
        if a[i].frame_id - a[i].start_frame > b[j].frame_id - b[j].start_frame:
            drop_b.add(int(j))
        else:
            drop_a.add(int(i))
    return [t for i, t in enumerate(a) if i not in drop_a], [t for j, t in enumerate(b) if j not in drop_b]
