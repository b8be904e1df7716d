"""The tracker's compiled loops against what they replace: IoU bit for bit against supervision's box_iou_batch (the
arithmetic ByteTrack's association was tuned with), the Kalman steps against upstream's 8x8 matrix products."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import supervision as sv

from streams.analytics import kernels
from streams.analytics.bytetrack import blocks

_POS, _VEL = 1.0 / 20, 1.0 / 160


def _boxes(rng: np.random.Generator, n: int, dtype: type) -> npt.NDArray[np.floating]:
    xy = rng.random((n, 2)) * 1200
    b = np.concatenate([xy, xy + 5 + rng.random((n, 2)) * 150], axis=1)
    return b.astype(dtype)


@pytest.mark.parametrize(("da", "db"), [(np.float64, np.float32), (np.float32, np.float64), (np.float64, np.float64)])
def test_iou_gives_supervisions_bits_for_every_pairing_of_box_types(da: type, db: type) -> None:
    rng = np.random.default_rng(11)
    for trial in range(300):
        a, b = _boxes(rng, int(rng.integers(0, 30)), da), _boxes(rng, int(rng.integers(0, 15)), db)
        k = min(len(a), len(b))
        if trial % 2:  # near-duplicates: the IoU values association thresholds sit on
            b[:k] = (a[:k] + rng.normal(0, 2, (k, 4))).astype(db)
        if trial % 7 == 0 and k:
            b[0] = b[0, [0, 1, 0, 1]]  # a degenerate (zero-area) box
        ours = kernels.iou(a, b)
        ref = sv.box_iou_batch(a, b) if len(a) and len(b) else np.zeros((len(a), len(b)), np.float32)
        assert ours.dtype == np.float32 and ours.shape == (len(a), len(b))
        assert np.array_equal(ours, np.nan_to_num(ref.astype(np.float32))), f"trial {trial}"


def test_measure_gives_upstreams_float32_conversions_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    xyxy = _boxes(rng, 500, np.float32)
    xyxy[:3] = [[0.1, 0.2, 0.3, 0.4], [-40.5, -3.25, 7.0, 1.0], [1279.9, 719.9, 1280.0, 720.0]]
    # supervision 0.27's STrack: tlwh from xyxy, then tlbr and xyah from tlwh, each in float32 numpy steps
    tlwh = xyxy.copy()
    tlwh[:, 2:] -= tlwh[:, :2]
    tlbr = tlwh.copy()
    tlbr[:, 2:] += tlbr[:, :2]
    xyah = tlwh.copy()
    xyah[:, :2] += xyah[:, 2:] / 2
    xyah[:, 2] /= xyah[:, 3]
    ours_tlbr, ours_xyah = kernels.measure(xyxy)
    assert ours_tlbr.dtype == np.float32 and np.array_equal(ours_tlbr, tlbr)
    assert ours_xyah.dtype == np.float64 and np.array_equal(ours_xyah, xyah.astype(np.float64))


def _upstream_predict(mean: npt.NDArray[np.float64], cov: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    motion = np.eye(8)
    motion[range(4), range(4, 8)] = 1.0
    h = mean[3]
    std = np.array([_POS * h, _POS * h, 1e-2, _POS * h, _VEL * h, _VEL * h, 1e-5, _VEL * h])
    return motion @ mean, motion @ cov @ motion.T + np.diag(np.square(std))


def _upstream_correct(mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    update = np.eye(4, 8)
    h = mean[3]
    r = np.diag(np.square([_POS * h, _POS * h, 1e-1, _POS * h]))
    s = update @ cov @ update.T + r
    gain = np.linalg.solve(s, update @ cov).T
    return mean + gain @ (z - update @ mean), cov - gain @ s @ gain.T


def test_the_kalman_steps_on_covariance_blocks_agree_with_upstreams_8x8_products() -> None:
    rng = np.random.default_rng(5)
    n = 40
    mean = np.concatenate([rng.random((n, 2)) * 1000, 0.3 + rng.random((n, 1)), 20 + rng.random((n, 1)) * 200,
                           rng.normal(0, 5, (n, 4))], axis=1)  # fmt: skip
    h = mean[:, 3]
    std = np.stack([2 * _POS * h, 2 * _POS * h, np.full(n, 1e-2), 2 * _POS * h,
                    10 * _VEL * h, 10 * _VEL * h, np.full(n, 1e-5), 10 * _VEL * h], axis=1)  # fmt: skip
    cov8 = np.array([np.diag(np.square(s)) for s in std])
    cov = np.array([blocks(c) for c in cov8])
    for step in range(12):
        m, c, b = kernels.predict(mean, cov, np.ones(n, bool))
        assert np.array_equal(b, kernels.boxes(m))
        ref = [_upstream_predict(mean[i], cov8[i]) for i in range(n)]
        np.testing.assert_allclose(m, [r[0] for r in ref], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(c, [blocks(r[1]) for r in ref], rtol=1e-9, atol=1e-12)
        assert all(np.count_nonzero(r[1] - np.diag(np.diag(r[1]))) == 8 for r in ref)  # only the 4 blocks' pv
        mean, cov, cov8 = m, c, np.array([r[1] for r in ref])
        if step % 3 == 2:
            continue  # a frame without a measurement: predicted only
        z = mean[:, :4] + rng.normal(0, 2, (n, 4)) * [1, 1, 0.01, 1]
        m, c, b = kernels.correct(mean, cov, z)
        assert np.array_equal(b, kernels.boxes(m))
        ref = [_upstream_correct(mean[i], cov8[i], z[i]) for i in range(n)]
        np.testing.assert_allclose(m, [r[0] for r in ref], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(c, [blocks(r[1]) for r in ref], rtol=1e-7, atol=1e-12)
        mean, cov, cov8 = m, c, np.array([r[1] for r in ref])


def test_a_lost_tracks_height_velocity_is_zeroed_before_it_is_predicted() -> None:
    mean = np.array([[10.0, 20.0, 0.5, 40.0, 1.0, 2.0, 0.0, 3.0]] * 2)
    cov = np.ones((2, 4, 3))
    m, _, _ = kernels.predict(mean, cov, np.array([True, False]))
    assert m[0, 3] == 43.0 and m[0, 7] == 3.0
    assert m[1, 3] == 40.0 and m[1, 7] == 0.0 and m[1, 0] == 11.0
    assert mean[1, 7] == 3.0  # the input is not changed


def test_distance_is_one_minus_iou_weighted_by_the_scores_in_float32_as_upstream() -> None:
    rng = np.random.default_rng(3)
    a, b = _boxes(rng, 9, np.float64), _boxes(rng, 7, np.float32)
    b[:5] = (a[:5] + rng.normal(0, 3, (5, 4))).astype(np.float32)
    scores = rng.random(7).astype(np.float32)
    sim = sv.box_iou_batch(a, b).astype(np.float32)
    assert np.array_equal(kernels.distance(a, b, scores), 1 - sim * scores[None, :])  # ByteTrack's fused cost
    assert np.array_equal(kernels.distance(a, b, np.empty(0, np.float32)), 1 - sim)
    assert kernels.distance(a, b[:0], np.empty(0, np.float32)).shape == (9, 0)
