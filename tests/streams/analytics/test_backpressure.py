"""Frames that never reached analytics (missing) or reached it late (stale): counted per window, decided from the
events alone, and never hidden in a window that says it is complete."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from schemas.events import DetectionsProduced
from schemas.serde import codec
from streams.analytics.camera import CameraAnalytics, Params
from streams.analytics.windows import MAX_GAP_WINDOWS, Window, run_gap, spread_missing
from tests.streams.analytics.factories import T0, Car, line_camera, traffic

CAM = "cam-bp"
FPS = 10.0


def numbered(evs: list[DetectionsProduced], run: int = 0, first_index: int = 0) -> list[DetectionsProduced]:
    """The frames as ingest numbers one run of them: run_index counts every frame, with no gap."""
    return [
        DetectionsProduced(**{**ev, "run_start_seq": run, "run_index": first_index + i}) for i, ev in enumerate(evs)
    ]


def windows(ca: CameraAnalytics, evs: list[DetectionsProduced]) -> list[dict[str, Any]]:
    cfg = line_camera(CAM)
    out: list[dict[str, Any]] = []
    for ev in evs:
        assert ca.classify(ev) == "ok"
        out += [dict(rec) for kind, rec in ca.process(ev, cfg) if kind == "stats"]
    return out


def minute(w: dict[str, Any]) -> int:
    return int((w["window_start"] - T0).total_seconds() // 60)


@pytest.mark.parametrize(
    ("prev", "cur", "expected"),
    [
        ((7, 10), (7, 11), (0, 0)),  # the next frame of the run
        ((7, 10), (7, 15), (4, 0)),  # frames 11-14 never came
        ((7, 10), (9, 0), (0, 0)),  # a new run from its first frame
        ((7, 10), (9, 3), (0, 3)),  # a new run whose first 3 frames never came
        ((9, 3), (7, 50), (0, 0)),  # an older run: not a gap of this one
        ((None, -1), (7, 500), (0, 0)),  # nothing known before: no count
        ((7, 10), (None, -1), (0, 0)),  # a producer without runs
    ],
)
def test_run_gap(prev: tuple[int | None, int], cur: tuple[int | None, int], expected: tuple[int, int]) -> None:
    assert run_gap(prev, cur) == expected


@pytest.mark.parametrize(
    ("t0", "t1", "n", "expected"),
    [
        (10.0, 20.0, 9, [(0.0, 9)]),  # inside one window
        (50.0, 130.0, 7, [(60.0, 6), (120.0, 1)]),  # at 60, 70, ..., 120
        (59.9, 300.1, 23, [(60.0, 6), (120.0, 5), (180.0, 6), (240.0, 6)]),
        (float("-inf"), 30.0, 3, [(0.0, 3)]),  # no frame before: all in t1's window
        (0.0, (MAX_GAP_WINDOWS + 5) * 60.0, 4, [((MAX_GAP_WINDOWS + 5) * 60.0, 4)]),  # too long a gap: t1's window
        (10.0, 20.0, 0, []),
    ],
)
def test_spread_missing(t0: float, t1: float, n: int, expected: list[tuple[float, int]]) -> None:
    assert spread_missing(t0, t1, n, 60.0) == expected


@given(
    t0=st.floats(0, 1e6),
    span=st.floats(0, 1e5),
    n=st.integers(1, 10**6),
    size=st.sampled_from([1.0, 60.0, 300.0]),
)
def test_spread_missing_places_every_frame_once_in_order(t0: float, span: float, n: int, size: float) -> None:
    out = spread_missing(t0, t0 + span, n, size)
    assert sum(k for _, k in out) == n and all(k > 0 for _, k in out)
    starts = [s for s, _ in out]
    assert starts == sorted(set(starts))


def test_a_window_state_from_before_these_fields_loads_with_none_missing() -> None:
    w = Window(start=0.0, end=60.0, frames=3, missing_frames=2, stale_frames=1)
    assert Window.from_data(w.to_data()) == w
    old = {k: v for k, v in w.to_data().items() if k not in ("missing_frames", "stale_frames")}
    assert (Window.from_data(old).missing_frames, Window.from_data(old).stale_frames) == (0, 0)


def test_frames_lost_inside_a_minute_make_its_window_incomplete_and_the_next_one_is_complete() -> None:
    evs = numbered(traffic(CAM, [Car(0, 640, 100, 0, 5)], 1300))
    before = REGISTRY.get_sample_value("its_analytics_frames_missing_total", {"camera_id": CAM}) or 0.0
    got = windows(CameraAnalytics(CAM, Params()), evs[:100] + evs[150:])  # 5 s of frames expired unprocessed
    assert [(minute(w), w["frames"], w["missing_frames"], w["complete"]) for w in got] == [
        (0, 550, 50, False),
        (1, 600, 0, True),
    ]
    assert REGISTRY.get_sample_value("its_analytics_frames_missing_total", {"camera_id": CAM}) == before + 50


def test_minutes_with_every_frame_lost_are_emitted_empty_and_incomplete_where_the_loss_happened() -> None:
    evs = numbered(traffic(CAM, [Car(0, 640, 100, 0, 5)], 3700))
    kept = evs[:300] + evs[3000:]  # 30 s into minute 0 until minute 5: inference fell behind, frames expired
    got = windows(CameraAnalytics(CAM, Params()), kept)
    assert [(minute(w), w["frames"], w["complete"]) for w in got] == [
        (0, 300, False),
        (1, 0, False),
        (2, 0, False),
        (3, 0, False),
        (4, 0, False),
        (5, 600, True),  # the frames after the gap are all there
    ]
    # the lost frames are spread evenly between the frames around the gap: here exactly where they were
    assert [w["missing_frames"] for w in got] == [300, 600, 600, 600, 600, 0]
    assert all(w["counts"] == [] and w["vehicles"] == 0 for w in got[1:5])
    # the same input gives the same windows: nothing depends on when it is processed
    assert windows(CameraAnalytics(CAM, Params()), kept) == got
    for w in got:  # and they are valid records of the topic
        assert codec("TrafficStatsWindow").decode(codec("TrafficStatsWindow").encode(w)) == w


def test_a_new_run_whose_first_frames_never_came_counts_them_in_its_first_window() -> None:
    evs = traffic(CAM, [Car(0, 640, 100, 0, 5)], 900)
    first = numbered(evs[:200], run=0)
    second = numbered(evs[300:], run=30_000, first_index=4)  # the camera moved worker; its first 4 frames expired
    got = windows(CameraAnalytics(CAM, Params()), first + second)
    assert [(minute(w), w["missing_frames"]) for w in got] == [(0, 4)]


def test_frames_without_run_numbers_are_never_counted_missing() -> None:
    evs = traffic(CAM, [Car(0, 640, 100, 0, 5)], 1300)  # a producer from before runs
    got = windows(CameraAnalytics(CAM, Params()), evs[:100] + evs[150:])
    assert [(w["missing_frames"], w["complete"]) for w in got] == [(0, True), (0, True)]


def test_stale_frames_are_counted_as_traffic_but_mark_their_window_incomplete() -> None:
    cars = [Car(15 * i, 300 + 100 * (i % 6), 80, 0, 18, frames=60) for i in range(30)]
    evs = numbered(traffic(CAM, cars, 1300))
    late: list[DetectionsProduced] = [
        # inference caught up on seconds 20-40 of minute 0 more than 30 s after capture
        DetectionsProduced(**{**ev, "produced_at": ev["captured_at"] + timedelta(seconds=45)}) if 200 <= i < 400 else ev
        for i, ev in enumerate(evs)
    ]
    fresh = windows(CameraAnalytics(CAM, Params()), evs)
    stale = windows(CameraAnalytics(CAM, Params()), late)
    assert [(w["stale_frames"], w["complete"]) for w in stale] == [(200, False), (0, True)]
    # the vehicles are counted all the same: flagged, not dropped
    strip = ("stale_frames", "complete")
    assert [{k: v for k, v in w.items() if k not in strip} for w in stale] == [
        {k: v for k, v in w.items() if k not in strip} for w in fresh
    ]
    assert Counter(c["direction"] for c in stale[0]["counts"] for _ in range(c["count"]))["IN"] > 0
    # 0 turns staleness off
    assert [w["complete"] for w in windows(CameraAnalytics(CAM, Params(stale_s=0)), late)] == [True, True]
