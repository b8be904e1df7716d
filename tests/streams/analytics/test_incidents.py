"""Incident records, deterministic ids, and the congestion detector's hysteresis."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import IncidentDetected
from streams.analytics.incidents import Congestion, OpenIncident, event_id, incident

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()


def test_event_id_is_deterministic_and_32_hex() -> None:
    a = event_id("cam-1", "line-1", 7, "IN", 1234)
    assert a == event_id("cam-1", "line-1", 7, "IN", 1234)
    assert re.fullmatch(r"[0-9a-f]{32}", a)


@pytest.mark.parametrize(
    "other",
    [
        ("cam-2", "line-1", 7, "IN", 1234),
        ("cam-1", "line-2", 7, "IN", 1234),
        ("cam-1", "line-1", 8, "IN", 1234),
        ("cam-1", "line-1", 7, "OUT", 1234),
        ("cam-1", "line-1", 7, "IN", 1235),
        ("cam-1", "line-1", 7, "IN"),
        ("cam-1line-1", 7, "IN", 1234),
    ],
)
def test_event_id_depends_on_every_part(other: tuple[object, ...]) -> None:
    assert event_id(*other) != event_id("cam-1", "line-1", 7, "IN", 1234)


#: ids, names and numbers as they appear in events: no unit separator, encodable
part = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1f"), max_size=12)


@given(st.lists(part, min_size=1, max_size=4), st.lists(part, min_size=1, max_size=4))
def test_event_ids_of_distinct_parts_differ(parts: list[str], other: list[str]) -> None:
    if other != parts:
        assert event_id(*parts) != event_id(*other)


def test_incident_open_and_closed() -> None:
    op = OpenIncident("abc", T0, track_id=3, class_name="car", zone_id="z1")
    opened = incident("cam-1", "STOPPED_VEHICLE", op, None, value=31.0, detail="stopped")
    assert opened == {
        "incident_id": "abc",
        "camera_id": "cam-1",
        "type": "STOPPED_VEHICLE",
        "state": "OPEN",
        "started_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "ended_at": None,
        "track_id": 3,
        "class_name": "car",
        "line_id": None,
        "zone_id": "z1",
        "value": 31.0,
        "detail": "stopped",
    }
    closed = incident("cam-1", "STOPPED_VEHICLE", op, T0 + 90.5)
    assert closed["state"] == "CLOSED"
    assert closed["incident_id"] == "abc"
    assert closed["started_at"] == opened["started_at"]
    assert closed["ended_at"] == datetime(2024, 5, 1, 12, 1, 30, 500000, tzinfo=UTC)


def feed(c: Congestion, samples: list[tuple[float, float]]) -> list[tuple[float, IncidentDetected]]:
    out = []
    for t, occ in samples:
        out += [(t, x) for x in c.update("cam-1", "z1", t, occ)]
    return out


def frames(seconds_from: float, seconds_to: float, occupancy: float, fps: int = 5) -> list[tuple[float, float]]:
    n = round((seconds_to - seconds_from) * fps)
    return [(T0 + seconds_from + i / fps, occupancy) for i in range(n)]


def test_congestion_waits_for_the_window_to_be_covered() -> None:
    """Full occupancy from the first frame: nothing until `window` seconds of buckets are there."""
    c = Congestion(window=10.0, threshold=0.5, release=0.8)
    events = feed(c, frames(0, 9, 1.0))
    assert events == []
    events = feed(c, frames(9, 10, 1.0))
    assert len(events) == 1
    t, ev = events[0]
    assert t == T0 + 9  # the first frame of the 10th second
    assert ev["state"] == "OPEN" and ev["type"] == "CONGESTION"
    assert ev["started_at"] == datetime.fromtimestamp(T0, UTC)
    assert ev["zone_id"] == "z1"
    assert ev["value"] == pytest.approx(1.0)


def test_congestion_needs_the_mean_at_the_threshold() -> None:
    c = Congestion(window=10.0, threshold=0.5, release=0.8)
    assert feed(c, frames(0, 30, 0.3)) == []
    # half the window at 0.6 is not enough (mean 0.45)
    assert feed(c, frames(30, 35, 0.6)) == []
    # two thirds of it is (mean 0.5)
    events = feed(c, frames(35, 37, 0.6))
    assert [e["state"] for _, e in events] == ["OPEN"]


def test_congestion_hysteresis_one_open_one_closed() -> None:
    """Opens at the threshold, hovers between threshold*release and the threshold without closing, then closes
    below threshold*release: one OPEN and one CLOSED with the same incident id."""
    c = Congestion(window=10.0, threshold=0.5, release=0.8)
    samples = frames(0, 20, 0.7) + frames(20, 60, 0.45) + frames(60, 61, 0.5) + frames(61, 100, 0.41)
    samples += frames(100, 130, 0.1) + frames(130, 140, 0.0)
    events = feed(c, samples)
    assert [e["state"] for _, e in events] == ["OPEN", "CLOSED"]
    (t_open, opened), (t_closed, closed) = events
    assert t_open == T0 + 9  # as soon as 10 s of buckets are there
    assert opened["incident_id"] == closed["incident_id"]
    assert opened["started_at"] == closed["started_at"] == datetime.fromtimestamp(T0, UTC)
    assert closed["ended_at"] == datetime.fromtimestamp(t_closed, UTC)
    assert T0 + 100 < t_closed < T0 + 110
    assert closed["value"] is not None and closed["value"] < 0.4
    assert c.open is None


def test_congestion_opens_again_with_a_new_id() -> None:
    c = Congestion(window=5.0, threshold=0.5, release=0.8)
    events = feed(c, frames(0, 10, 0.9) + frames(10, 20, 0.0) + frames(20, 30, 0.9))
    assert [e["state"] for _, e in events] == ["OPEN", "CLOSED", "OPEN"]
    assert events[0][1]["incident_id"] == events[1][1]["incident_id"] != events[2][1]["incident_id"]


def test_congestion_ids_are_deterministic() -> None:
    samples = frames(0, 20, 0.9) + frames(20, 40, 0.0)
    a = feed(Congestion(window=5.0, threshold=0.5, release=0.8), samples)
    b = feed(Congestion(window=5.0, threshold=0.5, release=0.8), samples)
    assert a == b and len(a) == 2


def test_congestion_window_slides() -> None:
    """Old seconds leave the window: an early burst does not keep the mean up."""
    c = Congestion(window=5.0, threshold=0.5, release=0.8)
    feed(c, frames(0, 3, 1.0) + frames(3, 20, 0.3))
    assert c.open is None
    assert len(c.buckets) == 5
    assert [b[0] for b in c.buckets] == [float(int(T0)) + s for s in range(15, 20)]
