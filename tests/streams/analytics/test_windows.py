"""Tumbling statistics windows in event time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.analytics.windows import Window, window_start

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("ts", "size", "expected"),
    [
        (0.0, 60.0, 0.0),
        (59.999, 60.0, 0.0),
        (60.0, 60.0, 60.0),
        (125.5, 60.0, 120.0),
        (START + 61.0, 60.0, START + 60.0),
        (START - 0.001, 60.0, START - 60.0),
        (14.0, 5.0, 10.0),
        (-1.0, 60.0, -60.0),
    ],
)
def test_window_start(ts: float, size: float, expected: float) -> None:
    assert window_start(ts, size) == expected


@given(
    ts=st.floats(min_value=0.0, max_value=4e9, allow_nan=False),
    size=st.sampled_from([1.0, 5.0, 10.0, 60.0, 300.0, 3600.0]),
)
def test_window_start_contains_ts(ts: float, size: float) -> None:
    start = window_start(ts, size)
    assert start <= ts < start + size
    assert start % size == 0


def test_record_of_an_empty_window() -> None:
    rec = Window(start=START, end=START + 60).record("cam-1", "CAMERA_STOPPED")
    assert rec == {
        "camera_id": "cam-1",
        "window_start": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "window_end": datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
        "frames": 0,
        "counts": [],
        "vehicles": 0,
        "mean_speed_kmh": None,
        "speed_samples": 0,
        "mean_occupancy": 0.0,
        "late_frames": 0,
        "closed_by": "CAMERA_STOPPED",
        "missing_frames": 0,
        "stale_frames": 0,
        "complete": True,
    }


def test_record_sums_frames_counts_and_means() -> None:
    w = Window(start=START, end=START + 60)
    w.add_frame([1, 2], [], 0.2)
    w.add_frame([2, 3], [], 0.4)
    w.add_frame([], [], 0.0)
    for line, cls, d in [
        ("line-b", "car", "IN"),
        ("line-a", "truck", "OUT"),
        ("line-a", "car", "OUT"),
        ("line-a", "car", "IN"),
        ("line-b", "car", "IN"),
        ("line-a", "car", "IN"),
    ]:
        w.add_count(line, cls, d)
    w.late_frames += 2
    rec = w.record("cam-1", "NEXT_FRAME")
    assert rec["counts"] == [
        {"line_id": "line-a", "class_name": "car", "direction": "IN", "count": 2},
        {"line_id": "line-a", "class_name": "car", "direction": "OUT", "count": 1},
        {"line_id": "line-a", "class_name": "truck", "direction": "OUT", "count": 1},
        {"line_id": "line-b", "class_name": "car", "direction": "IN", "count": 2},
    ]
    assert rec["frames"] == 3
    assert rec["vehicles"] == 3  # distinct tracks
    assert rec["mean_speed_kmh"] is None  # frames, but no speed samples
    assert rec["speed_samples"] == 0
    assert rec["mean_occupancy"] == pytest.approx(0.2)
    assert rec["late_frames"] == 2
    assert rec["closed_by"] == "NEXT_FRAME"


def test_mean_speed_is_over_samples_not_frames() -> None:
    w = Window(start=0.0, end=60.0)
    w.add_frame([1], [30.0], 0.0)
    w.add_frame([1, 2], [40.0, 50.0], 0.0)
    w.add_frame([], [], 0.0)
    rec = w.record("cam-1", "NEXT_FRAME")
    assert rec["mean_speed_kmh"] == pytest.approx(40.0)
    assert rec["speed_samples"] == 3
    assert rec["window_start"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert rec["window_start"].tzinfo is UTC
