"""`itscam bench analytics` drains its whole synthetic backlog through a real worker on the local Kafka."""

from __future__ import annotations

import pytest

from bench.analytics import camera_traffic, run_bench

pytestmark = pytest.mark.integration


def test_the_synthetic_traffic_is_ordered_in_frame_and_crosses_the_line() -> None:
    events, crossings = camera_traffic("cam-a", 60)
    assert [e["frame_seq"] for e in events] == list(range(60))
    boxes = [d for e in events for d in e["detections"]]
    assert 5 <= len(boxes) / len(events) <= 15  # about ten vehicles in view
    assert {d["class_name"] for d in boxes} <= {"car", "truck", "bus"}
    assert all(0.5 <= d["confidence"] <= 0.9 and 0 <= d["x1"] < d["x2"] <= 1280 for d in boxes)
    assert crossings > 0
    assert camera_traffic("cam-a", 60) == (events, crossings)  # deterministic per camera


def test_the_bench_drains_every_event_and_counts_vehicles(bootstrap: str) -> None:
    r = run_bench(bootstrap, cameras=3, frames=40, timeout=60, log=lambda _line: None)
    assert r["events"] == r["events_applied"] == 3 * 40
    assert r["dead_letters"] == 0
    assert 0 < r["vehicle_events"] <= r["synthetic_crossings"]
    assert r["frames_per_s"] > 0 and r["cpu_seconds"] > 0
