"""ByteTrack (Zhang et al., ECCV 2022), our own: the association rules of supervision 0.27's `sv.ByteTrack`, with its
state held as plain values we own and a whole frame's update compiled with numba.

Why our own: the analytics state must survive a library upgrade unchanged (supervision's tracker internals are
private and later releases drop the trackers), and supervision's per-track Kalman update (scipy's Cholesky per track,
in Python) was 80 % of an analytics event's CPU time. Why compiled: with the filter batched, a frame still took
~180 us, nearly all of it Python and numpy call overhead around tens of boxes (track objects, lists, scipy's matching
called four times); compiled whole, a frame's update takes ~30-36 us. The rules are kept step for step, quirks
included, so counts stay what they were tuned to be (tests/streams/analytics/test_bytetrack.py runs both on the same
detections):
 1. detections above `activation` are "high", those in (0.1, activation) "low";
 2. confirmed tracks and lost tracks are predicted and matched to the high detections on IoU fused with the score
    (`matching` threshold); a matched lost track is re-found;
 3. tracks still unmatched and tracked are matched to the low detections (IoU, 0.5); those still unmatched are lost;
 4. unconfirmed tracks (started last frame) are matched to the remaining high detections (fused, `unconfirmed`:
    upstream's 0.7, looser for cameras sampled below 10 fps, see tracking.py), else removed;
 5. remaining high detections at or above `new_track` start tracks (supervision: `activation + 0.1`, the default
    when none is given; Ultralytics' YOLO tracker config: 0.25, what analytics uses); lost tracks older than
    `max_time_lost` frames are removed (one frame later than they are marked: the removed list subtracted from the
    lost tracks is the previous frame's, as upstream), and a tracked/lost pair overlapping at IoU > 0.85 keeps only
    the older track.
The matching and the order of the unmatched (which decides which new track gets the lower id) are SciPy's and
CPython's, reproduced in association.py. All arithmetic is float64 (upstream starts a track's mean in float32) and
comparisons are in float32 where upstream's numpy compares float32; a restored state computes exactly as the one
saved, since the state is these arrays and counters, byte for byte.

The covariance is kept as what it is: every matrix of this filter (motion, noise, projection) keeps each axis
(x, y, aspect, h) apart from the others, coupled only to its own velocity, so upstream's 8x8 covariance is four 2x2
symmetric blocks and all its other entries stay exact zeros. A track holds those blocks as a 4x3 array (per axis:
position variance, position-velocity covariance, velocity variance): a fifth of the numbers to store and the filter
steps become element-wise (the results agree with the 8x8 products to rounding; the tests compare ids exactly).

The tracks are one table (`Tracks`): the tracked list's rows, then the lost list's, each in upstream's list order;
a track's internal id is unique among them (`Tracks.check`, run on every restored state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from streams.analytics import kernels
from streams.analytics.association import assign
from streams.analytics.kernels import POS, VEL

__all__ = ["COLUMNS", "LOST", "REMOVED", "TRACKED", "ByteTrack", "Tracks", "blocks"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
TRACKED, LOST, REMOVED = 1, 2, 3  # the values of upstream's TrackState (New, 0, is never kept)
#: the integer columns of a track, in `Tracks.ints`
COLUMNS = ("iid", "eid", "state", "activated", "start_frame", "frame_id", "tracklet_len")
IID, EID, STATE, ACT, START, FRAME, TLEN = range(7)
_NO_SCORES = np.empty(0, np.float32)


@dataclass
class Tracks:
    """Every kept track as columns: `ints` (n, 7) per COLUMNS, `score` (n,), Kalman `mean` (n, 8), covariance
    blocks `cov` (n, 4, 3) and the mean's xyxy `box` (n, 4); rows [0, n_tracked) are the tracked list."""

    ints: I64
    score: F64
    mean: F64
    cov: F64
    box: F64
    n_tracked: int

    @classmethod
    def empty(cls) -> Tracks:
        return cls(np.empty((0, 7), np.int64), np.empty(0), np.empty((0, 8)), np.empty((0, 4, 3)), np.empty((0, 4)), 0)

    @classmethod
    def of(cls, ints: Any, score: Any, mean: Any, cov: Any, n_tracked: int) -> Tracks:
        """Tracks from restored columns (boxes computed from the means, as the tracker keeps them)."""
        m = np.ascontiguousarray(mean, np.float64).reshape(-1, 8)
        return cls(
            np.ascontiguousarray(ints, np.int64).reshape(-1, 7),
            np.ascontiguousarray(score, np.float64).reshape(-1),
            m,
            np.ascontiguousarray(cov, np.float64).reshape(-1, 4, 3),
            kernels.boxes(m),
            n_tracked,
        )

    def check(self, next_iid: int) -> str | None:
        """What makes these tracks ones the tracker cannot have kept, or None."""
        n = len(self.ints)
        if not (len(self.score) == len(self.mean) == len(self.cov) == n and 0 <= self.n_tracked <= n):
            return "the track columns differ in length"
        iids = self.ints[:, IID]
        if len(np.unique(iids)) != n or (n and (iids.min() < 0 or iids.max() >= next_iid)):
            return "track ids are repeated, negative or not below the next id"
        if not np.isin(self.ints[:, STATE], (TRACKED, LOST, REMOVED)).all():
            return "a track state is not tracked (1), lost (2) or removed (3)"
        if not np.isfinite(self.mean).all() or not np.isfinite(self.cov).all():
            return "a Kalman state is not finite"
        return None


def blocks(cov8: npt.NDArray[Any]) -> F64:
    """The 4x3 covariance blocks of an 8x8 Kalman covariance (a version-2 or -3 state's): per axis k, the entries
    (k, k), (k, k + 4) and (k + 4, k + 4); the others are zeros in every covariance this filter makes."""
    k = np.arange(4)
    c = np.asarray(cov8, np.float64)
    return np.stack([c[k, k], c[k, k + 4], c[k + 4, k + 4]], axis=1)


class ByteTrack:
    def __init__(
        self,
        activation: float,
        matching: float,
        max_time_lost: int,
        min_consecutive: int,
        new_track: float | None = None,
        unconfirmed: float = 0.7,
    ) -> None:
        self.activation, self.matching, self.unconfirmed = activation, matching, unconfirmed
        self.det_thresh = activation + 0.1 if new_track is None else new_track
        self.max_time_lost, self.min_consecutive = max_time_lost, min_consecutive
        self.frame_id = 0
        self.next_iid, self.next_eid = 0, 1
        self.tracks = Tracks.empty()
        self.removed: I64 = np.empty(0, np.int64)  # internal ids removed in the last frame

    def update(self, boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32]) -> I64:
        """One frame's detections (xyxy and confidence, float32); per detection, the id of the confirmed track it
        belongs to (the one it overlaps best, IoU >= 0.5, as supervision assigns them) or -1."""
        t = self.tracks
        ints, score, mean, cov, box, nt, removed, counters, ids = _step(
            t.ints,
            t.score,
            t.mean,
            t.cov,
            t.box,
            t.n_tracked,
            self.removed,
            np.array([self.frame_id, self.next_iid, self.next_eid], np.int64),
            float(self.activation),
            float(self.matching),
            float(self.det_thresh),
            float(self.unconfirmed),
            int(self.max_time_lost),
            int(self.min_consecutive),
            np.ascontiguousarray(boxes, np.float32).reshape(-1, 4),
            np.ascontiguousarray(scores, np.float32).reshape(-1),
        )
        self.tracks = Tracks(ints, score, mean, cov, box, int(nt))
        self.removed = removed
        self.frame_id, self.next_iid, self.next_eid = (int(c) for c in counters)
        out: I64 = ids
        return out

    def alive(self) -> set[int]:
        return {e for e in self.tracks.ints[:, EID].tolist() if e >= 0}


@njit(cache=True, nogil=True)
def _matched(ti: Any, ts: Any, t: int, score: float, fid: int, min_consecutive: int, next_eid: int) -> int:
    """upstream's STrack.update (the Kalman correction is batched): track row t matched this frame; returns the
    next external id (a track confirmed now takes one)."""
    ti[t, FRAME] = fid
    ti[t, TLEN] += 1
    ti[t, STATE] = TRACKED
    if ti[t, TLEN] == min_consecutive:
        ti[t, ACT] = 1
        if ti[t, EID] == -1:
            ti[t, EID] = next_eid
            next_eid += 1
    ts[t] = score
    return next_eid


#: the running counts of a frame's update (`c` in _step): pairs to correct, activated, re-found, the next external id
_PAIRS, _ACT, _REF, _NEXT = range(4)


@njit(cache=True, nogil=True)
def _take(rows: Any, dets: Any, ti: Any, ts: Any, scores: Any, fid: int, k: int, lists: Any, c: Any) -> None:
    """The matches of steps 2 and 3 (`rows[m]` with detection `dets[m]`): a tracked track is updated, a lost (or
    just removed) one re-found. `lists` rows: pair tracks, pair detections, activated, re-found; `k`: frames a
    track needs to be confirmed."""
    for m in range(rows.shape[0]):
        t, d = rows[m], dets[m]
        lists[0, c[_PAIRS]], lists[1, c[_PAIRS]] = t, d
        c[_PAIRS] += 1
        if ti[t, STATE] == TRACKED:
            c[_NEXT] = _matched(ti, ts, t, scores[d], fid, k, c[_NEXT])
            lists[2, c[_ACT]] = t
            c[_ACT] += 1
        else:  # upstream's re_activate
            ti[t, TLEN] = 0
            ti[t, STATE] = TRACKED
            ti[t, FRAME] = fid
            ts[t] = scores[d]
            lists[3, c[_REF]] = t
            c[_REF] += 1


@njit(cache=True, nogil=True)
def _step(  # one frame of upstream's update, kept in its order
    ints: Any,
    score: Any,
    mean: Any,
    cov: Any,
    box: Any,
    nt: int,
    removed: Any,
    counters: Any,
    activation: float,
    matching: float,
    det_thresh: float,
    unconfirmed: float,
    max_time_lost: int,
    min_consecutive: int,
    boxes: Any,
    scores: Any,
) -> Any:
    n, k = ints.shape[0], boxes.shape[0]
    cap = n + k  # a frame adds at most one track per detection
    ti = np.empty((cap, 7), np.int64)
    ts = np.empty(cap)
    tm = np.empty((cap, 8))
    tc = np.empty((cap, 4, 3))
    tb = np.empty((cap, 4))
    ti[:n], ts[:n], tm[:n], tc[:n], tb[:n] = ints, score, mean, cov, box
    fid = counters[0] + 1
    next_iid = counters[1]

    # 1. the detections, high and low (compared in float32)
    tlbr, xyah = kernels.measure(boxes)
    act, low = np.float32(activation), np.float32(0.1)
    high, lows = np.empty(k, np.int64), np.empty(k, np.int64)
    nh = nl = 0
    for i in range(k):
        if scores[i] > act:
            high[nh] = i
            nh += 1
        elif low < scores[i] < act:
            lows[nl] = i
            nl += 1
    high, lows = high[:nh], lows[:nl]

    unconf, pool = np.empty(n, np.int64), np.empty(n, np.int64)
    nu = npool = 0
    for r in range(nt):
        if ti[r, ACT]:
            pool[npool] = r
            npool += 1
        else:
            unconf[nu] = r
            nu += 1
    for r in range(nt, n):
        pool[npool] = r
        npool += 1
    pool, unconf = pool[:npool], unconf[:nu]

    # 2. the pool predicted and matched to the high detections
    if npool:
        flags = np.empty(npool, np.bool_)
        for i in range(npool):
            flags[i] = ti[pool[i], STATE] == TRACKED
        pm, pc, pb = kernels.predict(tm[pool], tc[pool], flags)
        for i in range(npool):
            tm[pool[i]], tc[pool[i]], tb[pool[i]] = pm[i], pc[i], pb[i]
    lists = np.empty((4, cap), np.int64)  # pair tracks, pair detections, activated, re-found (see _take)
    c = np.array([0, 0, 0, counters[2]], np.int64)
    lost_now, removed_now = np.empty(cap, np.int64), np.empty(cap, np.int64)
    nlost = nrem = 0
    mr, mc, u_track, u_det = assign(kernels.distance(tb[pool], tlbr[high], scores[high]), matching)
    _take(pool[mr], high[mc], ti, ts, scores, fid, min_consecutive, lists, c)

    # 3. tracks still tracked, to the low detections
    rest = np.empty(u_track.shape[0], np.int64)
    nrest = 0
    for i in u_track:
        if ti[pool[i], STATE] == TRACKED:
            rest[nrest] = pool[i]
            nrest += 1
    rest = rest[:nrest]
    mr, mc, u_rest, _ = assign(kernels.distance(tb[rest], tlbr[lows], _NO_SCORES), 0.5)
    _take(rest[mr], lows[mc], ti, ts, scores, fid, min_consecutive, lists, c)
    for i in u_rest:
        t = rest[i]
        if ti[t, STATE] != LOST:
            ti[t, STATE] = LOST
            lost_now[nlost] = t
            nlost += 1

    # 4. unconfirmed tracks, to the high detections left
    left = high[u_det]
    mr, mc, u_unconf, u_new = assign(kernels.distance(tb[unconf], tlbr[left], scores[left]), unconfirmed)
    for m in range(mr.shape[0]):
        t, d = unconf[mr[m]], left[mc[m]]
        lists[0, c[_PAIRS]], lists[1, c[_PAIRS]] = t, d
        c[_PAIRS] += 1
        c[_NEXT] = _matched(ti, ts, t, scores[d], fid, min_consecutive, c[_NEXT])
        lists[2, c[_ACT]] = t
        c[_ACT] += 1
    for i in u_unconf:
        ti[unconf[i], STATE] = REMOVED
        removed_now[nrem] = unconf[i]
        nrem += 1

    # 5. new tracks, expired lost tracks, the Kalman corrections
    top = n
    thresh = np.float32(det_thresh)
    for j in u_new:
        d = left[j]
        if scores[d] < thresh:
            continue
        h = xyah[d, 3]
        p, v = 2 * POS * h, 10 * VEL * h  # a new track's spread: multiples of the filter's noise weights
        tm[top, :4] = xyah[d]
        tm[top, 4:] = 0.0
        for a in (0, 1, 3):
            tc[top, a, 0], tc[top, a, 1], tc[top, a, 2] = p * p, 0.0, v * v
        tc[top, 2, 0], tc[top, 2, 1], tc[top, 2, 2] = 1e-2 * 1e-2, 0.0, 1e-5 * 1e-5
        tb[top] = kernels.boxes(tm[top : top + 1])[0]
        ts[top] = scores[d]
        ti[top, IID] = next_iid
        next_iid += 1
        ti[top, ACT] = 1 if fid == 1 else 0
        ti[top, EID] = -1
        if min_consecutive == 1:
            ti[top, EID] = c[_NEXT]
            c[_NEXT] += 1
        ti[top, FRAME] = ti[top, START] = fid
        ti[top, TLEN] = 0
        ti[top, STATE] = TRACKED
        lists[2, c[_ACT]] = top
        c[_ACT] += 1
        top += 1
    for r in range(nt, n):
        if fid - ti[r, FRAME] > max_time_lost:
            ti[r, STATE] = REMOVED
            removed_now[nrem] = r
            nrem += 1
    npair = c[_PAIRS]
    if npair:
        pt, pd = lists[0, :npair], lists[1, :npair]
        cm, cc, cb = kernels.correct(tm[pt], tc[pt], xyah[pd])
        for i in range(npair):
            tm[pt[i]], tc[pt[i]], tb[pt[i]] = cm[i], cc[i], cb[i]

    # the new lists: tracked (kept, activated, re-found; each once), lost (not tracked again, not removed last frame)
    seen = np.zeros(top, np.bool_)
    tracked = np.empty(top, np.int64)
    ntr = 0
    for r in range(nt):
        if ti[r, STATE] == TRACKED and not seen[r]:
            seen[r] = True
            tracked[ntr] = r
            ntr += 1
    for row, cnt in ((2, c[_ACT]), (3, c[_REF])):
        for i in range(cnt):
            r = lists[row, i]
            if not seen[r]:
                seen[r] = True
                tracked[ntr] = r
                ntr += 1
    tracked = tracked[:ntr]
    lost = np.empty(top, np.int64)
    nlo = 0
    for r in np.concatenate((np.arange(nt, n), lost_now[:nlost])):
        if seen[r]:
            continue
        gone = False
        for iid in removed:
            gone = gone or ti[r, IID] == iid
        if not gone:
            lost[nlo] = r
            nlo += 1
    lost = lost[:nlo]

    # of a tracked and a lost track overlapping at IoU > 0.85, only the one tracked for longer stays
    keep_a, keep_b = np.ones(ntr, np.bool_), np.ones(nlo, np.bool_)
    if ntr and nlo:
        dist = kernels.distance(tb[tracked], tb[lost], _NO_SCORES)
        for i in range(ntr):
            for j in range(nlo):
                if dist[i, j] < np.float32(0.15):
                    a, b = tracked[i], lost[j]
                    if ti[a, FRAME] - ti[a, START] > ti[b, FRAME] - ti[b, START]:
                        keep_b[j] = False
                    else:
                        keep_a[i] = False
    rows = np.concatenate((tracked[keep_a], lost[keep_b]))
    n_tracked = int(keep_a.sum())

    # each detection takes the id of the confirmed track it overlaps best (IoU >= 0.5)
    confirmed = np.empty(n_tracked, np.int64)
    nconf = 0
    for r in rows[:n_tracked]:
        if ti[r, ACT]:
            confirmed[nconf] = r
            nconf += 1
    confirmed = confirmed[:nconf]
    ids = np.full(k, -1, np.int64)
    mr, mc, _, _ = assign(kernels.distance(boxes, tb[confirmed], _NO_SCORES), 0.5)
    for m in range(mr.shape[0]):
        ids[mr[m]] = ti[confirmed[mc[m]], EID]
    gone_ids = np.empty(nrem, np.int64)
    for i in range(nrem):
        gone_ids[i] = ti[removed_now[i], IID]
    out_counters = np.array([fid, next_iid, c[_NEXT]], np.int64)
    return ti[rows], ts[rows], tm[rows], tc[rows], tb[rows], n_tracked, gone_ids, out_counters, ids
