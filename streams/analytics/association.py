"""ByteTrack's association step compiled with numba: the minimum-cost matching and the order of the unmatched.

Both are what the Python tracker called, reproduced so a compiled tracker makes the same choices bit for bit:
- `lsap`: SciPy's `linear_sum_assignment` (the shortest augmenting path algorithm of Crouse, "On implementing 2D
  rectangular assignment algorithms", IEEE TAES 52(4), 2016, as SciPy implements it: a tall matrix is transposed,
  columns are scanned from the last, a tie prefers a free column). Which of two equally cheap matchings it returns
  decides track ids; tests/streams/analytics/test_association.py compares it with SciPy on tie-heavy matrices.
- `unmatched`: the order of upstream's `tuple(set(range(n)) - set(matched))`, a CPython set's order, not ascending
  (with 9 detections, 8 comes before 5): it decides which new track gets the lower id. It follows CPython's set
  (setobject.c: 8 slots at first, linear probing then perturbation, resize when 3/5 full); the same test compares
  it with the running interpreter's sets, so a CPython that orders sets differently is found there.
- `assign`: upstream's `matching.linear_assignment`, with both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["assign", "lsap", "unmatched"]

I64 = npt.NDArray[np.int64]

_MINSIZE, _LINEAR_PROBES, _PERTURB_SHIFT = 8, 9, 5  # CPython's setobject.c


@njit(cache=True, nogil=True)
def _augment(cost: Any, nc: int, u: Any, v: Any, path: Any, row4col: Any, spc: Any, i: int, sr: Any, sc: Any) -> Any:
    """The shortest augmenting path from row i: (sink column or -1 when infeasible, its cost)."""
    remaining = np.empty(nc, np.int64)
    for it in range(nc):
        remaining[it] = nc - it - 1  # from the last column: a constant matrix gives the identity
    n_rem = nc
    sr[:] = False
    sc[:] = False
    spc[:] = np.inf
    min_val = 0.0
    sink = -1
    while sink == -1:
        index = -1
        lowest = np.inf
        sr[i] = True
        for it in range(n_rem):
            j = remaining[it]
            r = min_val + cost[i, j] - u[i] - v[j]
            if r < spc[j]:
                path[j] = i
                spc[j] = r
            if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                lowest = spc[j]
                index = it
        min_val = lowest
        if min_val == np.inf:
            return -1, min_val
        j = remaining[index]
        if row4col[j] == -1:
            sink = j
        else:
            i = row4col[j]
        sc[j] = True
        n_rem -= 1
        remaining[index] = remaining[n_rem]
    return sink, min_val


@njit(cache=True, nogil=True)
def lsap(cost: Any) -> tuple[I64, I64]:
    """Row and column indices of a minimum-cost matching of a float64 matrix, rows ascending (as SciPy returns)."""
    nr, nc = cost.shape
    if nr == 0 or nc == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    transpose = nc < nr
    c = cost.T.copy() if transpose else cost
    if transpose:
        nr, nc = nc, nr
    u, v = np.zeros(nr), np.zeros(nc)
    spc = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    col4row = np.full(nr, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    sr, sc = np.zeros(nr, np.bool_), np.zeros(nc, np.bool_)
    for cur in range(nr):
        sink, min_val = _augment(c, nc, u, v, path, row4col, spc, cur, sr, sc)
        if sink < 0:
            raise ValueError("cost matrix is infeasible")
        u[cur] += min_val
        for i in range(nr):
            if sr[i] and i != cur:
                u[i] += min_val - spc[col4row[i]]
        for j in range(nc):
            if sc[j]:
                v[j] -= min_val - spc[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur:
                break
    if not transpose:
        return np.arange(nr), col4row
    order = np.argsort(col4row)  # rows of the original matrix ascending; its columns are the transposed rows
    return col4row[order], order


@njit(cache=True, nogil=True)
def _insert(table: Any, mask: int, key: int) -> None:
    """CPython's probe sequence for an int key (its own hash) into a table with no dummies."""
    i = key & mask
    perturb = key
    while True:
        probes = _LINEAR_PROBES if i + _LINEAR_PROBES <= mask else 0
        for k in range(probes + 1):
            if table[i + k] == -1:
                table[i + k] = key
                return
        perturb >>= _PERTURB_SHIFT
        i = (i * 5 + 1 + perturb) & mask


@njit(cache=True, nogil=True)
def unmatched(n: int, taken: Any, n_taken: int) -> I64:
    """`list(set(range(n)) - matched)` in CPython's order, `taken[i]` marking the matched (`n_taken` of them).

    `set(range(n))` iterates ascending. CPython's difference copies it when it is over four times the matched
    set's size (ascending again); otherwise it adds the rest, ascending, to a new set, whose table order is this."""
    if (n >> 2) > n_taken:
        out = np.empty(n - n_taken, np.int64)
        k = 0
        for i in range(n):
            if not taken[i]:
                out[k] = i
                k += 1
        return out
    table = np.full(_MINSIZE, -1, np.int64)
    used = 0
    for key in range(n):
        if taken[key]:
            continue
        mask = table.shape[0] - 1
        _insert(table, mask, key)
        used += 1
        if used * 5 >= mask * 3:  # fill == used: no dummies in a set only added to
            size = _MINSIZE
            while size <= used * 4:
                size <<= 1
            new = np.full(size, -1, np.int64)
            for slot in range(mask + 1):
                if table[slot] != -1:
                    _insert(new, size - 1, int(table[slot]))
            table = new
    out = np.empty(used, np.int64)
    k = 0
    for slot in range(table.shape[0]):
        if table[slot] != -1:
            out[k] = table[slot]
            k += 1
    return out


@njit(cache=True, nogil=True)
def assign(cost: Any, thresh: float) -> tuple[I64, I64, I64, I64]:
    """Minimum-cost matching of a float32 cost matrix keeping pairs at or under `thresh`: matched rows, matched
    columns (row order), unmatched rows and unmatched columns (upstream's orders). Costs over `thresh` become
    `thresh + 1e-4` first, and the comparisons are in float32, as upstream's numpy computes them."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.arange(rows), np.arange(cols)
    t32, cap = np.float32(thresh), np.float32(thresh + 1e-4)
    c = np.empty((rows, cols))
    for i in range(rows):
        for j in range(cols):
            c[i, j] = cap if cost[i, j] > t32 else cost[i, j]
    r, k = lsap(c)
    keep = np.zeros(r.shape[0], np.bool_)
    for m in range(r.shape[0]):
        keep[m] = np.float32(c[r[m], k[m]]) <= t32
    mr, mc = r[keep], k[keep]
    row_taken, col_taken = np.zeros(rows, np.bool_), np.zeros(cols, np.bool_)
    row_taken[mr] = True
    col_taken[mc] = True
    return mr, mc, unmatched(rows, row_taken, mr.shape[0]), unmatched(cols, col_taken, mc.shape[0])
