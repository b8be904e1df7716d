"""Ground speed over a track's trail with the camera's homography; image-plane rate without one."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.analytics.geometry import Homography
from streams.analytics.speed import Trail, displacement_rate, speed_kmh

UNIT = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
SIDE_M = 20.0
#: The image's unit square is a 20 m x 20 m ground square, axis aligned.
SQUARE = Homography(UNIT, [(x * SIDE_M, y * SIDE_M) for x, y in UNIT])
HORIZON = 1.0


def trail(vx: float, vy: float, seconds: float, fps: float = 10.0, x0: float = 0.2, y0: float = 0.3) -> Trail:
    """Samples of a track moving at (vx, vy) normalised units per second for `seconds`."""
    n = round(seconds * fps)
    return deque((i / fps, x0 + vx * i / fps, y0 + vy * i / fps) for i in range(n + 1))


@pytest.mark.parametrize(
    ("vx", "vy", "kmh"),
    [
        (0.0, 0.25, 18.0),  # 5 m/s
        (0.25, 0.0, 18.0),
        (0.0, -0.5, 36.0),
        (0.3, 0.4, 36.0),  # 0.5 frame/s diagonally: 10 m/s
        (0.0, 0.0, 0.0),
    ],
)
def test_speed_of_a_steady_track(vx: float, vy: float, kmh: float) -> None:
    assert speed_kmh(trail(vx, vy, 1.0), HORIZON, SQUARE) == pytest.approx(kmh, rel=0.01, abs=1e-6)


@given(
    vx=st.floats(min_value=-0.5, max_value=0.5),
    vy=st.floats(min_value=-0.5, max_value=0.5),
    seconds=st.floats(min_value=0.25, max_value=1.0),
    fps=st.sampled_from([5.0, 10.0, 25.0, 30.0]),
)
def test_speed_matches_the_ground_rate(vx: float, vy: float, seconds: float, fps: float) -> None:
    tr = trail(vx, vy, seconds, fps, x0=0.5, y0=0.5)
    expected = math.hypot(vx, vy) * SIDE_M * 3.6
    got = speed_kmh(tr, HORIZON, SQUARE)
    if tr[-1][0] - tr[0][0] < HORIZON / 4:  # rounded to whole frames, the trail may fall short
        assert got is None
    else:
        assert got == pytest.approx(expected, rel=0.01, abs=1e-3)


def test_no_calibration_no_speed() -> None:
    assert speed_kmh(trail(0.1, 0.1, 1.0), HORIZON, None) is None


@pytest.mark.parametrize(
    ("samples", "has_speed"),
    [
        ([], False),
        ([(0.0, 0.5, 0.5)], False),
        ([(0.0, 0.5, 0.5), (0.2, 0.5, 0.6)], False),  # 0.2 s < a quarter of 1 s
        ([(0.0, 0.5, 0.5), (0.1, 0.5, 0.55), (0.2, 0.5, 0.6)], False),
        ([(0.0, 0.5, 0.5), (0.25, 0.5, 0.6)], True),  # exactly a quarter
        ([(0.0, 0.5, 0.5), (0.3, 0.5, 0.6)], True),
    ],
)
def test_short_trail_has_no_speed(samples: list[tuple[float, float, float]], has_speed: bool) -> None:
    tr: Trail = deque(samples)
    assert (speed_kmh(tr, HORIZON, SQUARE) is not None) is has_speed
    assert (displacement_rate(tr, HORIZON) is not None) is has_speed


def test_speed_uses_the_oldest_and_newest_samples() -> None:
    """Jitter in between does not change the mean speed over the trail."""
    tr: Trail = deque([(0.0, 0.5, 0.1), (0.3, 0.9, 0.9), (0.6, 0.1, 0.4), (1.0, 0.5, 0.35)])
    assert speed_kmh(tr, HORIZON, SQUARE) == pytest.approx(0.25 * SIDE_M * 3.6, rel=0.01)


def test_speed_through_a_perspective_calibration() -> None:
    """A road receding in the image: the same ground speed is fewer pixels per second far away."""
    image = [(0.4, 0.2), (0.6, 0.2), (1.0, 1.0), (0.0, 1.0)]
    ground = [(0.0, 100.0), (10.0, 100.0), (10.0, 0.0), (0.0, 0.0)]
    h = Homography(image, ground)
    near = h.to_ground(np.array([[0.5, 0.9]]))[0]
    # 10 m further along the road, wherever that is in the image: find it by bisection on the centre line
    lo, hi = 0.2, 0.9
    for _ in range(60):
        mid = (lo + hi) / 2
        d = h.to_ground(np.array([[0.5, mid]]))[0][1] - near[1]
        lo, hi = (lo, mid) if d < 10.0 else (mid, hi)
    tr: Trail = deque([(0.0, 0.5, 0.9), (1.0, 0.5, lo)])
    assert speed_kmh(tr, HORIZON, h) == pytest.approx(36.0, rel=0.01)


@pytest.mark.parametrize(
    ("image", "ground"),
    [
        ([(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.0, 1.0)], [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)]),
        ([(0.1, 0.1), (0.9, 0.1), (0.5, 0.1), (0.5, 0.9)], [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)]),
        (UNIT, [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (20.0, 40.0)]),
    ],
)
def test_degenerate_calibration_raises_naming_the_points(
    image: list[tuple[float, float]], ground: list[tuple[float, float]]
) -> None:
    with pytest.raises(ValueError) as e:
        Homography(image, ground)
    assert str(image) in str(e.value)
    assert str(ground) in str(e.value)


@pytest.mark.parametrize(
    ("vx", "vy", "rate"),
    [(0.0, 0.1, 0.1), (0.3, 0.4, 0.5), (0.0, 0.0, 0.0), (-0.05, 0.0, 0.05)],
)
def test_displacement_rate(vx: float, vy: float, rate: float) -> None:
    assert displacement_rate(trail(vx, vy, 1.0), HORIZON) == pytest.approx(rate, rel=1e-9, abs=1e-12)
