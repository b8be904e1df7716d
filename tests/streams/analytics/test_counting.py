"""Line crossings of one track: hysteresis band, interpolation over skipped frames, at most once per direction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.analytics.counting import LineCrossing, LineSide, PixelLine, step_line

BAND = 5.0
LINE_Y = 100.0


def horizontal(in_from: int = -1, x1: float = 0.0, x2: float = 200.0, one_way: bool = False) -> PixelLine:
    """A line at y = 100 drawn from x1 to x2; in_from -1 is what LEFT_TO_RIGHT maps to (for a line drawn left to
    right, its left side is above it, so IN is downwards)."""
    return PixelLine("l1", "Line 1", (x1, LINE_Y), (x2, LINE_Y), in_from=in_from, one_way=one_way)


def run(line: PixelLine, path: list[tuple[float, float]], dt: float = 0.1) -> list[LineCrossing]:
    """Feed a track's anchor positions (one per frame, dt apart) to step_line; the crossings it counted."""
    state = LineSide(geometry=line.geometry)
    hits = [step_line(state, line, p, i * dt, BAND) for i, p in enumerate(path)]
    return [h for h in hits if h is not None]


def ys(*values: float, x: float = 100.0) -> list[tuple[float, float]]:
    return [(x, y) for y in values]


def test_skipping_the_band_counts_once_with_interpolated_time() -> None:
    """Well above in one frame, well below in the next: no frame near the line, still one crossing, at the time
    and place the straight path met it."""
    hits = run(horizontal(), [(40.0, 20.0), (60.0, 180.0), (80.0, 260.0)], dt=0.5)
    assert len(hits) == 1
    (hit,) = hits
    assert (hit.direction, hit.motion) == ("IN", "DOWN")
    assert hit.at == pytest.approx(0.25)  # frames at t=0 (y=20) and t=0.5 (y=180): y=100 half way
    assert (hit.point.x, hit.point.y) == pytest.approx((50.0, LINE_Y))
    assert hit.point.t == pytest.approx(0.5)


def test_interpolated_time_uses_the_last_clear_position() -> None:
    """Positions inside the band do not move the start of the interpolated path."""
    hits = run(horizontal(), ys(80.0, 97.0, 99.0, 102.0, 120.0), dt=1.0)
    assert len(hits) == 1
    # from y=80 at t=0 to y=120 at t=4: meets y=100 half way
    assert hits[0].at == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("path", "directions"),
    [
        pytest.param(ys(50, 150), ["IN"], id="down"),
        pytest.param(ys(150, 50), ["OUT"], id="up"),
        pytest.param(ys(50, 96, 104, 97, 103, 150), ["IN"], id="jitter-inside-band-then-cross"),
        pytest.param(ys(50, 96, 104, 96, 104, 96), [], id="jitter-inside-band-never-clear"),
        pytest.param(ys(50, 150, 96, 104, 97, 103, 98), ["IN"], id="cross-then-jitter-inside-band"),
        pytest.param(ys(50, 150, 50), ["IN", "OUT"], id="cross-back-once"),
        pytest.param(ys(50, 150, 50, 150, 50, 150), ["IN", "OUT"], id="back-and-forth-counts-each-direction-once"),
        pytest.param(ys(150, 200, 250), [], id="first-seen-past-the-line-moving-on"),
        pytest.param(ys(103, 150, 200), [], id="first-seen-in-the-band-leaving"),
        pytest.param(ys(97, 50, 20), [], id="first-seen-in-the-band-backing-off"),
        pytest.param(ys(97, 150), [], id="first-seen-in-the-band-crossing"),  # never clearly on the IN side
        pytest.param(ys(50, 94, 106, 150), ["IN"], id="just-outside-band"),
        pytest.param([(300.0, 50.0), (300.0, 150.0)], [], id="beside-the-segment"),
        pytest.param([(300.0, 50.0), (300.0, 150.0), (100.0, 50.0)], ["OUT"], id="beside-then-back-inside"),
        pytest.param([(-50.0, 50.0), (50.0, 150.0)], ["IN"], id="diagonal-through-the-end"),
    ],
)
def test_step_line_paths(path: list[tuple[float, float]], directions: list[str]) -> None:
    assert [h.direction for h in run(horizontal(), path)] == directions


@given(
    first=st.floats(min_value=0.0, max_value=LINE_Y - BAND - 0.01),
    wobble=st.lists(st.floats(min_value=LINE_Y - BAND, max_value=LINE_Y + BAND), min_size=1, max_size=50),
)
def test_oscillation_within_the_band_never_counts(first: float, wobble: list[float]) -> None:
    """A track clearly on one side, then oscillating across the line by no more than the band: not counted."""
    assert run(horizontal(), ys(first, *wobble)) == []


@given(
    wobble=st.lists(st.floats(min_value=LINE_Y - BAND, max_value=LINE_Y + BAND), max_size=30),
    after=st.lists(st.floats(min_value=LINE_Y - BAND, max_value=LINE_Y + BAND), max_size=30),
)
def test_one_crossing_with_jitter_counts_once(wobble: list[float], after: list[float]) -> None:
    """Approach, jitter about the line, cross, jitter about it again: exactly one IN."""
    hits = run(horizontal(), ys(20.0, *wobble, 180.0, *after))
    assert [h.direction for h in hits] == ["IN"]


@given(
    path=st.lists(
        st.floats(min_value=LINE_Y - 3 * BAND, max_value=LINE_Y + 3 * BAND, allow_nan=False), min_size=1, max_size=80
    )
)
def test_any_path_counts_each_direction_at_most_once(path: list[float]) -> None:
    hits = run(horizontal(), ys(*path))
    directions = [h.direction for h in hits]
    assert len(directions) == len(set(directions)) <= 2
    for h in hits:
        assert h.motion == ("DOWN" if h.direction == "IN" else "UP")


def test_crossing_back_counts_out_once_and_never_a_second_in() -> None:
    line = horizontal()
    state = LineSide(geometry=line.geometry)
    seen = []
    for i, y in enumerate([50.0, 150.0, 50.0, 150.0, 50.0, 150.0]):
        hit = step_line(state, line, (100.0, y), float(i), BAND)
        seen.append(None if hit is None else (hit.direction, hit.motion))
    assert seen == [None, ("IN", "DOWN"), ("OUT", "UP"), None, None, None]
    assert state.counted == {"IN", "OUT"}


@pytest.mark.parametrize(
    ("a", "b", "in_from", "path", "expected"),
    [
        # drawn left to right; LEFT_TO_RIGHT (in_from -1): downwards is IN
        ((0.0, 100.0), (200.0, 100.0), -1, ys(50, 150), ("IN", "DOWN")),
        ((0.0, 100.0), (200.0, 100.0), -1, ys(150, 50), ("OUT", "UP")),
        # drawn left to right; RIGHT_TO_LEFT (in_from +1): upwards is IN
        ((0.0, 100.0), (200.0, 100.0), 1, ys(50, 150), ("OUT", "DOWN")),
        ((0.0, 100.0), (200.0, 100.0), 1, ys(150, 50), ("IN", "UP")),
        # drawn right to left the sides swap: LEFT_TO_RIGHT is upwards
        ((200.0, 100.0), (0.0, 100.0), -1, ys(150, 50), ("IN", "UP")),
        ((200.0, 100.0), (0.0, 100.0), -1, ys(50, 150), ("OUT", "DOWN")),
        # a vertical line drawn downwards: its left is the image's right, so LEFT_TO_RIGHT is a leftward move
        ((100.0, 0.0), (100.0, 200.0), -1, [(150.0, 80.0), (50.0, 90.0)], ("IN", "LEFT")),
        ((100.0, 0.0), (100.0, 200.0), -1, [(50.0, 80.0), (150.0, 90.0)], ("OUT", "RIGHT")),
    ],
)
def test_direction_mapping(
    a: tuple[float, float],
    b: tuple[float, float],
    in_from: int,
    path: list[tuple[float, float]],
    expected: tuple[str, str],
) -> None:
    line = PixelLine("l1", "Line 1", a, b, in_from=in_from, one_way=False)
    hits = run(line, path)
    assert [(h.direction, h.motion) for h in hits] == [expected]
    assert hits[0].line is line


def test_state_keeps_last_clear_side_and_position() -> None:
    line = horizontal()
    state = LineSide(geometry=line.geometry)
    assert step_line(state, line, (10.0, 50.0), 1.0, BAND) is None
    assert (state.side, state.pos, state.t) == (-1, (10.0, 50.0), 1.0)
    assert step_line(state, line, (12.0, 98.0), 2.0, BAND) is None  # inside the band: forgotten
    assert (state.side, state.pos, state.t) == (-1, (10.0, 50.0), 1.0)
    assert step_line(state, line, (14.0, 60.0), 3.0, BAND) is None
    assert (state.side, state.pos, state.t) == (-1, (14.0, 60.0), 3.0)
