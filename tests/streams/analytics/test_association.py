"""The compiled association against what it reproduces: SciPy's linear_sum_assignment (which of two equally cheap
matchings, ties included) and the running CPython's set order of the unmatched. If either library changes, these
fail first, before the tracker's ids drift (test_bytetrack.py compares the whole tracker with supervision's)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from streams.analytics.association import assign, lsap, unmatched


def _matrices(seed: int, n: int) -> list[npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        r, c = int(rng.integers(0, 25)), int(rng.integers(0, 25))
        if t % 3 == 0:
            m = rng.random((r, c))
        elif t % 3 == 1:  # mostly at the cap: the ties that clamping to thresh + 1e-4 makes
            m = np.where(rng.random((r, c)) < 0.7, 0.95, rng.random((r, c)))
        else:  # few distinct values: ties everywhere
            m = rng.integers(0, 3, (r, c)) / 2
        out.append(m.astype(np.float32))
    return out


def _reference_assign(
    cost: npt.NDArray[np.float32], thresh: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """upstream's matching.linear_assignment, as the tracker ran it in Python."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return [], list(range(rows)), list(range(cols))
    cost = np.where(cost > thresh, thresh + 1e-4, cost)
    r, c = linear_sum_assignment(cost)
    limit = float(cost.dtype.type(thresh))
    matches = [(i, j) for i, j, v in zip(r.tolist(), c.tolist(), cost[r, c].tolist(), strict=True) if v <= limit]
    return matches, list(set(range(rows)) - {i for i, _ in matches}), list(set(range(cols)) - {j for _, j in matches})


def test_lsap_returns_scipys_matching_ties_and_tall_matrices_included() -> None:
    for m in _matrices(3, 3000):
        r, c = linear_sum_assignment(m.astype(np.float64))
        ours = lsap(m.astype(np.float64))
        assert ours[0].tolist() == r.tolist() and ours[1].tolist() == c.tolist(), m.shape


@pytest.mark.parametrize("thresh", [0.95, 0.8, 0.7, 0.5])
def test_assign_matches_upstreams_linear_assignment_in_its_orders(thresh: float) -> None:
    for m in _matrices(int(thresh * 100), 1500):
        mr, mc, ur, uc = assign(m, thresh)
        assert (list(zip(mr.tolist(), mc.tolist(), strict=True)), ur.tolist(), uc.tolist()) == _reference_assign(
            m, thresh
        ), (m.shape, thresh)


def test_unmatched_is_this_interpreters_set_order() -> None:
    rng = np.random.default_rng(5)
    differ = 0
    for n in range(90):
        for _ in range(60):
            taken = rng.random(n) < rng.random()
            want = list(set(range(n)) - set(np.flatnonzero(taken).tolist()))
            assert unmatched(n, taken, int(taken.sum())).tolist() == want, (n, np.flatnonzero(taken).tolist())
            differ += want != sorted(want)
    assert differ > 100  # the orders checked include many that are not ascending


def test_an_infeasible_matrix_is_refused() -> None:
    with pytest.raises(ValueError, match="infeasible"):
        lsap(np.full((2, 2), np.inf))
