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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

__all__ = ["LOST", "REMOVED", "TRACKED", "ByteTrack", "Track"]

F64 = npt.NDArray[np.float64]
TRACKED, LOST, REMOVED = 1, 2, 3  # the values of upstream's TrackState (New, 0, is never kept)

_POS, _VEL = 1.0 / 20, 1.0 / 160
_MOTION = np.eye(8)
_MOTION[np.arange(4), np.arange(4, 8)] = 1.0
_EYE = np.eye(8)
# Noise standard deviations as h * scale + fixed (upstream lists them; the fixed ones are for the aspect ratio).
_Q_SCALE = np.array([_POS, _POS, 0.0, _POS, _VEL, _VEL, 0.0, _VEL])
_Q_FIXED = np.array([0.0, 0.0, 1e-2, 0.0, 0.0, 0.0, 1e-5, 0.0])
_R_SCALE = np.array([_POS, _POS, 0.0, _POS])
_R_FIXED = np.array([0.0, 0.0, 1e-1, 0.0])


class Track:
    """One track: Kalman mean (x, y, aspect, h and their velocities) and covariance, and its bookkeeping."""

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
        self.box = _boxes(mean[None, :])[0]  # xyxy of the mean, kept with it
        self.state, self.activated = TRACKED, False
        self.start_frame = self.frame_id = self.tracklet_len = 0
        self.iid, self.eid = -1, -1


class _Det:
    """A detection of this frame: its box as upstream holds it (float32 corners via top-left, width, height), its
    (x, y, aspect, h) measurement and its score."""

    __slots__ = ("score", "tlbr", "xyah")

    def __init__(self, tlbr: npt.NDArray[np.float32], xyah: F64, score: float) -> None:
        self.tlbr, self.xyah, self.score = tlbr, xyah, score


def _dets(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]) -> list[_Det]:
    """Upstream's conversions, for all boxes at once and in the same float32 steps."""
    tlwh = boxes.copy()
    tlwh[:, 2:] -= tlwh[:, :2]
    tlbr = tlwh.copy()
    tlbr[:, 2:] += tlbr[:, :2]
    xyah = tlwh.copy()
    xyah[:, :2] += xyah[:, 2:] / 2
    xyah[:, 2] /= xyah[:, 3]
    xyah64 = xyah.astype(np.float64)
    return [_Det(tlbr[i], xyah64[i], s) for i, s in enumerate(scores.tolist())]


def _boxes(mean: F64) -> F64:
    """xyxy boxes of Kalman means (x, y, aspect, h, ...), one per row, in upstream's steps."""
    w = mean[:, 2] * mean[:, 3]
    x1, y1 = mean[:, 0] - w / 2, mean[:, 1] - mean[:, 3] / 2
    return np.stack([x1, y1, x1 + w, y1 + mean[:, 3]], axis=1)


def _tlbr(tracks: list[Track]) -> F64:
    if not tracks:
        return np.empty((0, 4))
    return np.array([t.box for t in tracks])


def iou(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Pairwise IoU of xyxy boxes, with supervision's box_iou_batch's arithmetic: the intersection in float32 (the
    corners rounded to float32 first, which gives the same maxima and minima), the areas in the boxes' own type."""
    if len(a) == 0 or len(b) == 0:
        return np.empty((len(a), len(b)), np.float32)
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    wh = np.minimum(a32[:, None, 2:], b32[None, :, 2:]) - np.maximum(a32[:, None, :2], b32[None, :, :2])
    np.maximum(wh, 0.0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    da, db = a[:, 2:] - a[:, :2], b[:, 2:] - b[:, :2]
    norm = (da[:, 0] * da[:, 1])[:, None] + (db[:, 0] * db[:, 1])[None, :] - inter
    out = np.zeros(inter.shape, np.float32)
    np.divide(inter, norm, out=out, where=norm > 0)
    return out


def assign(cost: npt.NDArray[Any], thresh: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching keeping pairs at or under `thresh`, the unmatched rows and the unmatched columns."""
    rows, cols = cost.shape
    if cost.size == 0:
        return [], list(range(rows)), list(range(cols))
    cost = cost.copy()
    cost[cost > thresh] = thresh + 1e-4
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] <= thresh
    matches = list(zip(r[keep].tolist(), c[keep].tolist(), strict=True))
    # The unmatched in the order of upstream's `tuple(set(range(n)) - set(matched))`: a set's order, not ascending
    # (with 9 detections, 8 comes before 5): it decides which new track gets the lower id.
    return matches, list(set(range(rows)) - set(r[keep].tolist())), list(set(range(cols)) - set(c[keep].tolist()))


def _fused(tracks: list[Track], dets: list[_Det]) -> npt.NDArray[Any]:
    sim = iou(_tlbr(tracks), np.array([d.tlbr for d in dets]).reshape(-1, 4))
    if sim.size:
        sim = sim * np.array([d.score for d in dets], np.float32)[None, :]  # float32, as upstream
    out: npt.NDArray[Any] = 1 - sim
    return out


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
    mean = np.array([t.mean for t in tracks])
    mean[[i for i, t in enumerate(tracks) if t.state != TRACKED], 7] = 0.0
    cov = np.array([t.cov for t in tracks])
    std = mean[:, 3:4] * _Q_SCALE + _Q_FIXED  # (n, 8): the motion noise, proportional to the box height
    q = np.square(std)[:, :, None] * _EYE
    mean = mean @ _MOTION.T
    cov = _MOTION @ cov @ _MOTION.T + q
    boxes = _boxes(mean)
    for i, t in enumerate(tracks):
        t.mean, t.cov, t.box = mean[i], cov[i], boxes[i]


def _correct(pairs: list[tuple[Track, _Det]]) -> None:
    """The Kalman correction of every (track, detection) pair of the frame, in one batch."""
    if not pairs:
        return
    mean = np.array([t.mean for t, _ in pairs])
    cov = np.array([t.cov for t, _ in pairs])
    z = np.array([d.xyah for _, d in pairs])
    r = mean[:, 3:4] * _R_SCALE + _R_FIXED  # (n, 4): the measurement noise
    # The projected covariance S is diagonal: every matrix of this filter keeps each axis (x, y, aspect, h) apart
    # from the others with its own velocity, so the off-diagonal entries of S are exact zeros. Solving with it is
    # then a division by its diagonal (upstream's Cholesky divides twice by its square root, so the results agree
    # to rounding, not bit for bit; the tests compare ids exactly and boxes to rounding).
    sd = np.diagonal(cov[:, :4, :4], axis1=1, axis2=2) + np.square(r)  # (n, 4)
    gain = cov[:, :, :4] / sd[:, None, :]  # (n, 8, 4)
    mean = mean + (gain * (z - mean[:, :4])[:, None, :]).sum(axis=2)
    cov = cov - (gain * sd[:, None, :]) @ gain.transpose(0, 2, 1)
    boxes = _boxes(mean)
    for i, (t, _) in enumerate(pairs):
        t.mean, t.cov, t.box = mean[i], cov[i], boxes[i]


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
        std = np.array([2 * _POS * h, 2 * _POS * h, 1e-2, 2 * _POS * h, 10 * _VEL * h, 10 * _VEL * h, 1e-5])
        std = np.append(std, 10 * _VEL * h)
        t = Track(np.r_[m, np.zeros(4)], np.diag(np.square(std)), d.score)
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
        high = scores > self.activation
        low = (scores > 0.1) & (scores < self.activation)
        dets = _dets(boxes[high], scores[high])
        dets_low = _dets(boxes[low], scores[low])
        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]

        pool = _joint(confirmed, self.lost)
        _predict(pool)
        matches, u_track, u_det = assign(_fused(pool, dets), self.matching)
        for i, j in matches:
            self._matched_or_refound(pool[i], dets[j], fid, pairs, activated, refind)

        rest = [pool[i] for i in u_track if pool[i].state == TRACKED]
        cost = 1 - iou(_tlbr(rest), np.array([d.tlbr for d in dets_low]).reshape(-1, 4))
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
    dist = 1 - iou(_tlbr(a), _tlbr(b))
    drop_a: set[int] = set()
    drop_b: set[int] = set()
    for i, j in zip(*np.where(dist < 0.15), strict=True):
        if a[i].frame_id - a[i].start_frame > b[j].frame_id - b[j].start_frame:
            drop_b.add(int(j))
        else:
            drop_a.add(int(i))
    return [t for i, t in enumerate(a) if i not in drop_a], [t for j, t in enumerate(b) if j not in drop_b]
