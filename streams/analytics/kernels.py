"""The tracker's numeric inner loops, compiled with numba: box IoU and association cost, the detections' box
conversions, and the Kalman predict and correct steps.

A frame has tens of boxes, so numpy's per-call cost, not arithmetic, was most of the tracker's time (an IoU matrix
took ~20 us as twenty numpy calls; compiled, ~1 us). The arithmetic is numpy's own, step for step and type for type
(float32 where supervision computes in float32), so `iou` gives the same bits as supervision's `box_iou_batch`
(tests/streams/analytics/test_kernels.py compares them).

Compiled on first use and cached on disk (`NUMBA_CACHE_DIR`, else `__pycache__` beside this file, else the user's
cache): a worker's first frame pays about a second per function only when no cache is there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["POS", "VEL", "boxes", "correct", "distance", "iou", "measure", "predict"]

F64 = npt.NDArray[np.float64]

POS, VEL = 1.0 / 20, 1.0 / 160  # upstream's noise weights of position and velocity (per unit of box height)


@njit(cache=True, nogil=True)
def iou(a: Any, b: Any) -> npt.NDArray[np.float32]:
    """Pairwise IoU of xyxy boxes (rows of `a` x rows of `b`), with supervision's box_iou_batch's arithmetic: the
    intersection in float32 (corners rounded to float32), each box's area in its array's own type, the union and the
    ratio in float64, stored as float32; 0 where the union is not positive."""
    n, m = a.shape[0], b.shape[0]
    out = np.zeros((n, m), np.float32)
    zero = np.float32(0.0)
    for i in range(n):
        ax1, ay1, ax2, ay2 = np.float32(a[i, 0]), np.float32(a[i, 1]), np.float32(a[i, 2]), np.float32(a[i, 3])
        area_a = np.float64((a[i, 2] - a[i, 0]) * (a[i, 3] - a[i, 1]))
        for j in range(m):
            w = min(ax2, np.float32(b[j, 2])) - max(ax1, np.float32(b[j, 0]))
            h = min(ay2, np.float32(b[j, 3])) - max(ay1, np.float32(b[j, 1]))
            inter = max(w, zero) * max(h, zero)
            union = area_a + np.float64((b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1])) - np.float64(inter)
            if union > 0:
                out[i, j] = np.float32(np.float64(inter) / union)
    return out


@njit(cache=True, nogil=True)
def distance(a: Any, b: Any, scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """ByteTrack's association cost in float32, as upstream computes it: 1 - IoU, the IoU first multiplied by each
    column's detection score when `scores` has one per column (pass an empty array for plain 1 - IoU)."""
    sim = iou(a, b)
    fuse = scores.shape[0] == b.shape[0] and b.shape[0] > 0
    one = np.float32(1.0)
    for i in range(sim.shape[0]):
        for j in range(sim.shape[1]):
            v = np.float32(sim[i, j] * scores[j]) if fuse else sim[i, j]
            sim[i, j] = one - v
    return sim


@njit(cache=True, nogil=True)
def measure(xyxy: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], F64]:
    """Detections' boxes as upstream converts them, in its float32 steps: corners via top-left, width and height
    (float32) and the (x, y, aspect, h) measurement (computed in float32, returned as float64)."""
    n = xyxy.shape[0]
    tlbr = np.empty((n, 4), np.float32)
    xyah = np.empty((n, 4))
    two = np.float32(2.0)
    for i in range(n):
        x, y = xyxy[i, 0], xyxy[i, 1]
        w, h = np.float32(xyxy[i, 2] - x), np.float32(xyxy[i, 3] - y)
        tlbr[i, 0], tlbr[i, 1], tlbr[i, 2], tlbr[i, 3] = x, y, np.float32(x + w), np.float32(y + h)
        xyah[i, 0] = np.float32(x + np.float32(w / two))
        xyah[i, 1] = np.float32(y + np.float32(h / two))
        xyah[i, 2] = np.float32(w / h)
        xyah[i, 3] = h
    return tlbr, xyah


@njit(cache=True, nogil=True)
def boxes(mean: F64) -> F64:
    """xyxy boxes of Kalman means (x, y, aspect, h, ...), one per row, in upstream's steps."""
    out = np.empty((mean.shape[0], 4))
    for i in range(mean.shape[0]):
        h = mean[i, 3]
        w = mean[i, 2] * h
        out[i, 0] = mean[i, 0] - w / 2
        out[i, 1] = mean[i, 1] - h / 2
        out[i, 2] = out[i, 0] + w
        out[i, 3] = out[i, 1] + h
    return out


@njit(cache=True, nogil=True)
def predict(mean: F64, cov: F64, tracked: npt.NDArray[np.bool_]) -> tuple[F64, F64, F64]:
    """One constant-velocity step of every track: new means (n, 8), covariance blocks (n, 4, 3) and boxes. A track not
    tracked this frame (lost) has its height velocity zeroed first, as upstream. Per axis k with position variance
    pp, covariance pv and velocity variance vv: F P F' + Q, F = [[1, 1], [0, 1]], Q = diag(q_pos, q_vel)."""
    n = mean.shape[0]
    m = mean.copy()
    c = np.empty_like(cov)
    for i in range(n):
        if not tracked[i]:
            m[i, 7] = 0.0
        h = m[i, 3]
        for k in range(4):
            if k == 2:  # the aspect ratio: fixed noise
                sp, sv = 1e-2, 1e-5
            else:
                sp, sv = POS * h, VEL * h
            pp, pv, vv = cov[i, k, 0], cov[i, k, 1], cov[i, k, 2]
            c[i, k, 0] = (pp + pv) + (pv + vv) + sp * sp
            c[i, k, 1] = pv + vv
            c[i, k, 2] = vv + sv * sv
        for k in range(4):
            m[i, k] = m[i, k] + m[i, k + 4]
    return m, c, boxes(m)


@njit(cache=True, nogil=True)
def correct(mean: F64, cov: F64, z: F64) -> tuple[F64, F64, F64]:
    """The Kalman correction of each track (row) by its measurement z (x, y, aspect, h), with the new boxes. The
    projected covariance is diagonal (per axis pp + r^2), so the gain is a division by it (upstream's Cholesky
    divides twice by its square root: the results agree to rounding, not bit for bit)."""
    n = mean.shape[0]
    m = mean.copy()
    c = np.empty_like(cov)
    for i in range(n):
        h = mean[i, 3]
        for k in range(4):
            r = 1e-1 if k == 2 else POS * h
            pp, pv, vv = cov[i, k, 0], cov[i, k, 1], cov[i, k, 2]
            s = pp + r * r
            kp, kv = pp / s, pv / s
            innovation = z[i, k] - mean[i, k]
            m[i, k] = mean[i, k] + kp * innovation
            m[i, k + 4] = mean[i, k + 4] + kv * innovation
            ks = kp * s
            c[i, k, 0] = pp - ks * kp
            c[i, k, 1] = pv - ks * kv
            c[i, k, 2] = vv - (kv * s) * kv
    return m, c, boxes(m)
