"""Backpressure in the answers: a camera's analytics is DEGRADED while its detections are behind what it sends, and a
statistics window that misses frames or counted stale ones says it is incomplete (real PostgreSQL, the API app)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from projections.queries import analytics_state
from projections.writers.analytics import write_traffic_stats
from schemas.events import TrafficStatsWindow
from tests.projections.api.conftest import DAY, add_camera, add_status

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _row(status: str | None, last_seen: datetime | None, last_frame: datetime | None = None) -> dict[str, Any]:
    return {"s_status": status, "last_seen_at": last_seen, "s_last_frame_at": last_frame, "s_changed_at": DAY}


@pytest.mark.parametrize(
    ("row", "status", "lag_s"),
    [
        (_row("ONLINE", NOW - timedelta(seconds=2)), "OK", 2.0),
        (_row("DEGRADED", NOW - timedelta(seconds=31)), "DEGRADED", 31.0),  # ingest's own DEGRADED: still sending
        (_row("ONLINE", None), "DEGRADED", 12 * 3600.0),  # sending since DAY, no detection ever
        # stopped: behind the last frame it sent, not the clock
        (_row("OFFLINE", NOW - timedelta(hours=2), NOW - timedelta(hours=2) + timedelta(seconds=5)), "OK", 5.0),
        (_row("OFFLINE", NOW - timedelta(hours=2), NOW - timedelta(hours=1)), "DEGRADED", 3600.0),
        (_row("DISABLED", NOW - timedelta(hours=2), None), "OK", 0.0),
        (_row(None, NOW - timedelta(hours=2)), "UNKNOWN", None),
    ],
)
def test_analytics_state(row: dict[str, Any], status: str, lag_s: float | None) -> None:
    assert analytics_state(row, NOW, 30.0) == {"status": status, "lag_s": lag_s, "degraded_after_s": 30.0}


def test_a_sending_camera_whose_detections_fall_behind_is_degraded(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str
) -> None:
    fresh, behind, quiet = (f"cam-{unique}-{x}" for x in ("fresh", "behind", "quiet"))
    now = datetime.now(UTC)
    with psycopg.connect(pg_dsn) as conn:
        for cam, seen in ((fresh, now - timedelta(seconds=3)), (behind, now - timedelta(minutes=10)), (quiet, None)):
            add_camera(conn, cam)
            conn.execute("UPDATE cameras SET last_seen_at = %s WHERE camera_id = %s", (seen, cam))
        add_status(conn, fresh)
        add_status(conn, behind)
    got = {cam: client.get(f"/v1/cameras/{cam}", headers=admin).json()["analytics"] for cam in (fresh, behind, quiet)}
    assert got[fresh]["status"] == "OK" and 3 <= got[fresh]["lag_s"] < 30
    assert got[behind]["status"] == "DEGRADED" and got[behind]["lag_s"] >= 600
    assert got[quiet] == {"status": "UNKNOWN", "lag_s": None, "degraded_after_s": 30.0}
    listed = client.get("/v1/cameras", params={"limit": 1000}, headers=admin).json()["items"]
    assert {c["camera_id"]: c["analytics"]["status"] for c in listed if unique in c["camera_id"]} == {
        fresh: "OK",
        behind: "DEGRADED",
        quiet: "UNKNOWN",
    }


def _window(cam: str, minute: int, **extra: Any) -> TrafficStatsWindow:
    start = DAY + timedelta(minutes=minute)
    w: TrafficStatsWindow = {
        "camera_id": cam,
        "window_start": start,
        "window_end": start + timedelta(minutes=1),
        "frames": 600,
        "counts": [],
        "vehicles": 4,
        "mean_speed_kmh": None,
        "speed_samples": 0,
        "mean_occupancy": 0.1,
        "late_frames": 0,
        "closed_by": "NEXT_FRAME",
    }
    w.update(extra)  # type: ignore[typeddict-item]
    return w


def test_incomplete_windows_are_stored_and_answered_as_such(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    windows = [
        _window(cam, 0),  # a window of a producer from before: complete as it always was
        _window(cam, 1, frames=300, missing_frames=300, stale_frames=0, complete=False),
        _window(cam, 2, frames=0, vehicles=0, missing_frames=600, stale_frames=0, complete=False),
        _window(cam, 3, stale_frames=120, missing_frames=0, complete=False),
        _window(cam, 4, missing_frames=0, stale_frames=0, complete=True),
    ]
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        with conn.cursor() as cur:
            write_traffic_stats(cur, windows)
            write_traffic_stats(cur, windows[1:2])  # a replay changes nothing
    q = {"from": DAY.isoformat(), "to": (DAY + timedelta(hours=1)).isoformat()}
    items = client.get(f"/v1/cameras/{cam}/stats", params=q, headers=admin).json()["items"]
    assert [(w["frames"], w["missing_frames"], w["stale_frames"], w["complete"]) for w in items] == [
        (600, 0, 0, True),
        (300, 300, 0, False),
        (0, 600, 0, False),
        (600, 0, 120, False),
        (600, 0, 0, True),
    ]
