"""Plane geometry: anchors, side of a line, segment crossings, motion, zone rasters, the homography."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from streams.analytics.geometry import (
    Anchor,
    Homography,
    ZoneGrid,
    anchor_points,
    cross_segment,
    motion_of,
    side_distance,
)

Pt = tuple[float, float]

coord = st.floats(min_value=-1000.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
point = st.tuples(coord, coord)


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.CENTER, [[15.0, 30.0], [1.0, 2.0]]),
        (Anchor.BOTTOM_CENTER, [[15.0, 40.0], [1.0, 4.0]]),
        (Anchor.TOP_CENTER, [[15.0, 20.0], [1.0, 0.0]]),
    ],
)
def test_anchor_points(anchor: Anchor, expected: list[list[float]]) -> None:
    boxes = np.array([[10.0, 20.0, 20.0, 40.0], [0.0, 0.0, 2.0, 4.0]])
    assert anchor_points(boxes, anchor).tolist() == expected


def test_anchor_points_of_no_boxes() -> None:
    assert anchor_points(np.zeros((0, 4)), Anchor.CENTER).shape == (0, 2)


@pytest.mark.parametrize(
    ("a", "b", "p", "expected"),
    [
        ((0.0, 10.0), (100.0, 10.0), (50.0, 0.0), -10.0),  # drawn left to right: above is left, negative
        ((0.0, 10.0), (100.0, 10.0), (50.0, 25.0), 15.0),  # below is right, positive
        ((100.0, 10.0), (0.0, 10.0), (50.0, 0.0), 10.0),  # drawn right to left: above is right
        ((0.0, 0.0), (0.0, 100.0), (5.0, 50.0), -5.0),  # drawn downwards: x grows to its left on the image
        ((0.0, 0.0), (10.0, 10.0), (10.0, 0.0), -math.sqrt(50.0)),
        ((0.0, 0.0), (10.0, 10.0), (5.0, 5.0), 0.0),
        ((0.0, 0.0), (10.0, 10.0), (-20.0, -20.0), 0.0),  # the infinite line, beyond the segment
    ],
)
def test_side_distance(a: Pt, b: Pt, p: Pt, expected: float) -> None:
    assert side_distance(a, b, p) == pytest.approx(expected, abs=1e-12)


A, B = (0.0, 0.0), (10.0, 0.0)


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [
        pytest.param((5.0, -5.0), (5.0, 5.0), (0.5, 5.0, 0.0), id="inside-down"),
        pytest.param((5.0, 5.0), (5.0, -5.0), (0.5, 5.0, 0.0), id="inside-up"),
        pytest.param((2.0, -1.0), (8.0, 3.0), (0.25, 3.5, 0.0), id="inside-slanted"),
        pytest.param((-6.0, -2.0), (14.0, 2.0), (0.5, 4.0, 0.0), id="path-longer-than-segment"),
        pytest.param((0.0, -1.0), (0.0, 1.0), (0.5, 0.0, 0.0), id="through-end-a"),
        pytest.param((10.0, -1.0), (10.0, 1.0), (0.5, 10.0, 0.0), id="through-end-b"),
        pytest.param((15.0, -5.0), (15.0, 5.0), None, id="beside-end-b"),
        pytest.param((-0.5, -5.0), (-0.5, 5.0), None, id="beside-end-a"),
        pytest.param((-3.0, -1.0), (-1.0, 1.0), None, id="slanted-beside-end"),
        pytest.param((0.0, -1.0), (10.0, -1.0), None, id="parallel-above"),
        pytest.param((-5.0, 2.0), (20.0, 2.0), None, id="parallel-below"),
        pytest.param((0.0, 0.0), (10.0, 0.0), None, id="along-the-segment"),
        pytest.param((5.0, -5.0), (5.0, -1.0), None, id="short-of-the-line"),
        pytest.param((5.0, -5.0), (5.0, 0.0), None, id="touching-from-above"),
        pytest.param((5.0, 5.0), (5.0, 0.0), None, id="touching-from-below"),
        pytest.param((5.0, 0.0), (5.0, -5.0), None, id="leaving-upwards"),
        pytest.param((5.0, 0.0), (5.0, 5.0), None, id="leaving-downwards"),
    ],
)
def test_cross_segment(p0: Pt, p1: Pt, expected: tuple[float, float, float] | None) -> None:
    """A crossing needs the path's ends strictly on opposite sides and the meeting point within the segment: a
    path that only touches the line (ends or starts on it) crosses nothing, whichever side it is on."""
    hit = cross_segment(A, B, p0, p1)
    if expected is None:
        assert hit is None
    else:
        assert hit is not None
        assert (hit.t, hit.x, hit.y) == pytest.approx(expected, abs=1e-12)


@given(
    a=point,
    b=point,
    u=st.floats(min_value=0.02, max_value=0.98),
    t=st.floats(min_value=0.02, max_value=0.98),
    angle=st.floats(min_value=0.2, max_value=math.pi - 0.2),
    length=st.floats(min_value=1.0, max_value=500.0),
)
def test_cross_segment_finds_every_crossing_within_the_segment(
    a: Pt, b: Pt, u: float, t: float, angle: float, length: float
) -> None:
    """A straight path through a point q of the segment, at an angle to it: found, at the right fraction of the
    path, and the interpolated point is q, on the line."""
    seg = math.hypot(b[0] - a[0], b[1] - a[1])
    assume(seg > 1.0)
    q = (a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]))
    heading = math.atan2(b[1] - a[1], b[0] - a[0]) + angle
    v = (math.cos(heading) * length, math.sin(heading) * length)
    p0 = (q[0] - t * v[0], q[1] - t * v[1])
    p1 = (q[0] + (1 - t) * v[0], q[1] + (1 - t) * v[1])
    assume(abs(side_distance(a, b, p0)) > 1e-6 and abs(side_distance(a, b, p1)) > 1e-6)
    hit = cross_segment(a, b, p0, p1)
    assert hit is not None
    assert hit.t == pytest.approx(t, abs=1e-6)
    assert (hit.x, hit.y) == pytest.approx(q, abs=1e-6)
    assert side_distance(a, b, (hit.x, hit.y)) == pytest.approx(0.0, abs=1e-6)


@given(a=point, b=point, p0=point, p1=point)
def test_cross_segment_is_none_when_both_ends_are_on_one_side(a: Pt, b: Pt, p0: Pt, p1: Pt) -> None:
    assume(math.hypot(b[0] - a[0], b[1] - a[1]) > 1.0)
    d0, d1 = side_distance(a, b, p0), side_distance(a, b, p1)
    assume(d0 * d1 > 0)
    assert cross_segment(a, b, p0, p1) is None


@given(a=point, b=point, p0=point, p1=point)
def test_cross_segment_is_symmetric_in_the_path_direction(a: Pt, b: Pt, p0: Pt, p1: Pt) -> None:
    """Reversing the path meets the segment at the same point, at the complementary fraction."""
    assume(math.hypot(b[0] - a[0], b[1] - a[1]) > 1.0)
    d0, d1 = side_distance(a, b, p0), side_distance(a, b, p1)
    assume(d0 * d1 < 0 and abs(d0) > 1e-3 and abs(d1) > 1e-3)
    fwd, back = cross_segment(a, b, p0, p1), cross_segment(a, b, p1, p0)
    if fwd is not None and back is not None:
        assert fwd.t + back.t == pytest.approx(1.0, abs=1e-6)
        assert (fwd.x, fwd.y) == pytest.approx((back.x, back.y), abs=1e-6)
    else:
        one = fwd or back
        # only rounding at a segment's very end may tell the two apart
        assert one is None or min(math.dist((one.x, one.y), a), math.dist((one.x, one.y), b)) < 1e-6


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [
        ((0.0, 0.0), (0.0, 5.0), "DOWN"),
        ((0.0, 0.0), (0.0, -5.0), "UP"),
        ((0.0, 0.0), (5.0, 0.0), "RIGHT"),
        ((0.0, 0.0), (-5.0, 0.0), "LEFT"),
        ((0.0, 0.0), (3.0, 4.0), "DOWN"),
        ((0.0, 0.0), (-4.0, 3.0), "LEFT"),
        ((0.0, 0.0), (4.0, -3.0), "RIGHT"),
        ((0.0, 0.0), (-3.0, -4.0), "UP"),
    ],
)
def test_motion_of(p0: Pt, p1: Pt, expected: str) -> None:
    assert motion_of(p0, p1) == expected


SQUARE = [(0.25, 0.2), (0.75, 0.2), (0.75, 0.8), (0.25, 0.8)]
TRIANGLE = [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5)]


@pytest.mark.parametrize(
    ("index", "x", "y", "inside"),
    [
        (0, 0.5, 0.5, True),
        (0, 0.26, 0.21, True),
        (0, 0.1, 0.5, False),
        (0, 0.5, 0.9, False),
        (1, 0.1, 0.1, True),
        (1, 0.4, 0.4, False),  # beyond the hypotenuse
        (1, 0.5, 0.5, False),
        (1, -0.5, 2.0, False),  # clamped to the grid's edge, outside
    ],
)
def test_zone_grid_contains(index: int, x: float, y: float, inside: bool) -> None:
    assert ZoneGrid([SQUARE, TRIANGLE]).contains(index, x, y) is inside


#: One grid cell at each side of the zone: the raster is exact to a cell.
CELL_TOL = 1 / (0.5 * ZoneGrid.W) + 1 / (0.6 * ZoneGrid.H)


@pytest.mark.parametrize(
    ("boxes", "share"),
    [
        ([], 0.0),
        ([(0.25, 0.2, 0.75, 0.8)], 1.0),
        ([(0.0, 0.0, 1.0, 1.0)], 1.0),
        ([(0.25, 0.2, 0.5, 0.8)], 0.5),
        ([(0.25, 0.2, 0.5, 0.5)], 0.25),
        ([(0.25, 0.2, 0.5, 0.5), (0.5, 0.5, 0.75, 0.8)], 0.5),
        ([(0.25, 0.2, 0.5, 0.8), (0.3, 0.2, 0.5, 0.8)], 0.5),  # overlapping boxes count once
        ([(0.0, 0.0, 0.2, 0.1)], 0.0),
        ([(0.0, 0.2, 0.5, 0.8)], 0.5),  # only the part inside the zone
    ],
)
def test_zone_grid_coverage(boxes: list[tuple[float, float, float, float]], share: float) -> None:
    grid = ZoneGrid([SQUARE])
    assert grid.coverage(np.array(boxes, np.float64).reshape(-1, 4)) == pytest.approx(share, abs=CELL_TOL)


def test_zone_grid_without_zones_covers_the_frame() -> None:
    assert ZoneGrid([]).coverage(np.array([[0.0, 0.0, 0.5, 1.0]])) == pytest.approx(0.5, abs=0.01)


def test_a_box_wholly_outside_the_frame_covers_nothing() -> None:
    # validate.py lets boxes overshoot the frame by half its size: one wholly above or left of it covers no cell
    # (a negative end once wrapped around as a numpy slice and covered most of the grid)
    outside = np.array([[0.2, -0.4, 0.8, -0.1], [-0.45, 0.2, -0.05, 0.8]])
    assert ZoneGrid([]).coverage(outside) == 0.0


UNIT = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def test_homography_maps_the_calibration_points() -> None:
    ground = [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)]
    h = Homography(UNIT, ground)
    np.testing.assert_allclose(h.to_ground(np.array(UNIT)), np.array(ground), atol=1e-4)
    np.testing.assert_allclose(h.to_ground(np.array([[0.5, 0.25]])), [[10.0, 5.0]], atol=1e-4)
    assert h.to_ground(np.zeros((0, 2))).shape == (0, 2)


def test_homography_perspective_keeps_lines_straight() -> None:
    """A trapezoid in the image (a road receding) maps to a rectangle on the ground; its centre line too."""
    image = [(0.4, 0.2), (0.6, 0.2), (1.0, 1.0), (0.0, 1.0)]
    ground = [(0.0, 100.0), (10.0, 100.0), (10.0, 0.0), (0.0, 0.0)]
    g = Homography(image, ground).to_ground(np.array([[0.5, 0.2], [0.5, 1.0], [0.5, 0.6]]))
    assert g[:, 0].tolist() == pytest.approx([5.0, 5.0, 5.0], abs=1e-3)
    assert g[0, 1] == pytest.approx(100.0, abs=1e-3)
    assert g[1, 1] == pytest.approx(0.0, abs=1e-3)
    assert 0.0 < g[2, 1] < 50.0  # half way down the image is less than half way along the road


@pytest.mark.parametrize(
    ("image", "ground"),
    [
        ([(0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.0, 1.0)], [(0.0, 0.0), (20.0, 0.0), (20.0, 20.0), (0.0, 20.0)]),
        (UNIT, [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (0.0, 20.0)]),
    ],
    ids=["image-collinear", "ground-collinear"],
)
def test_homography_rejects_degenerate_points(image: list[Pt], ground: list[Pt]) -> None:
    with pytest.raises(ValueError, match="no usable homography") as e:
        Homography(image, ground)
    assert str(image) in str(e.value) and str(ground) in str(e.value)


def test_homography_needs_four_pairs() -> None:
    with pytest.raises(ValueError, match="exactly 4"):
        Homography(UNIT[:3], UNIT[:3])
