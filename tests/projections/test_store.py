"""PostgreSQL read models on the real local PostgreSQL."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from projections.batch import Batch, CameraChange
from projections.db import connect
from projections.store import PgStore
from tests.projections.factories import (
    T0,
    camera_record,
    detections_event,
    incident_event,
    stats_window,
    status_event,
    vehicle_event,
)

pytestmark = pytest.mark.integration


def test_batch_writes_frames_detections_counts_and_offsets_once(pg_dsn: str, unique: str) -> None:
    cam, group = f"cam-{unique}", f"g-{unique}"
    events = [
        detections_event(cam, 0, ["car", "car", "truck"]),
        detections_event(cam, 1, ["car"]),
        detections_event(cam, 700, ["bus"]),
    ]  # 70 s later: next minute
    with connect(pg_dsn) as conn:
        store = PgStore(conn, group)
        stats = store.write(Batch(detections=events), {("topic-a", 3): 42})
        assert (stats.frames_new, stats.frames_duplicate, stats.detections) == (3, 0, 5)
        # Replaying the same events (e.g. after a crash before Kafka saw the commit) changes nothing.
        again = store.write(Batch(detections=events), {("topic-a", 3): 43})
        assert (again.frames_new, again.frames_duplicate, again.detections) == (0, 3, 0)
        assert store.offsets("topic-a") == {3: 43}

        q = conn.execute
        assert q("SELECT count(*) FROM detections WHERE camera_id=%s", (cam,)).fetchone() == (5,)
        rows = q(
            "SELECT minute, class_name, detections FROM class_counts_minute WHERE camera_id=%s"
            " ORDER BY minute, class_name",
            (cam,),
        ).fetchall()
        assert rows == [(T0, "car", 3), (T0, "truck", 1), (T0 + timedelta(minutes=1), "bus", 1)]
        assert q(
            "SELECT frames, detections, last_frame_seq, first_seen_at FROM cameras WHERE camera_id=%s", (cam,)
        ).fetchone() == (3, 5, 700, T0)
        assert q("SELECT sum(frames) FROM frames_minute WHERE camera_id=%s", (cam,)).fetchone() == (3,)
        assert q("SELECT tableoid::regclass::text FROM frames WHERE camera_id=%s LIMIT 1", (cam,)).fetchone() == (
            "frames_p20260105",
        )


def test_a_failed_batch_leaves_nothing_behind(pg_dsn: str, unique: str) -> None:
    cam, group = f"cam-{unique}", f"g-{unique}"
    bad = detections_event(cam, 0, ["car"])
    bad["detections"][0]["class_name"] = "x\x00y"  # PostgreSQL text cannot hold NUL: the COPY fails
    with connect(pg_dsn) as conn:
        store = PgStore(conn, group)
        with pytest.raises(psycopg.Error):
            store.write(Batch(detections=[bad], statuses=[status_event(cam, 0)]), {("topic-b", 0): 7})
        conn.rollback()
        assert store.offsets("topic-b") == {}
        assert conn.execute("SELECT count(*) FROM frames WHERE camera_id=%s", (cam,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM camera_status WHERE camera_id=%s", (cam,)).fetchone() == (0,)


def test_every_event_kind_is_projected_idempotently(pg_dsn: str, unique: str) -> None:
    cam, group = f"cam-{unique}", f"g-{unique}"
    vehicles = [(vehicle_event(cam, i), 2, 100 + i) for i in range(6)]
    batch = Batch(
        cameras=[CameraChange(cam, camera_record(cam, 0), T0)],
        statuses=[status_event(cam, 2, "DEGRADED"), status_event(cam, 1, "ONLINE")],
        vehicles=vehicles[:4],
        stats=[stats_window(cam, 0), stats_window(cam, 1)],
        incidents=[incident_event(cam, 0, "OPEN"), incident_event(cam, 0, "CLOSED"), incident_event(cam, 1, "OPEN")],
    )
    with connect(pg_dsn) as conn:
        store = PgStore(conn, group)
        first = store.write(batch, {("t", 0): 10})
        assert len(first.new_vehicles) == 4
        # Overlapping replay + newer events: only events 4 and 5 are new; an older status and an OPEN after
        # CLOSED change nothing.
        again = Batch(
            statuses=[status_event(cam, 0, "OFFLINE")],
            vehicles=vehicles[2:],
            stats=[stats_window(cam, 1)],
            incidents=[incident_event(cam, 0, "OPEN")],
        )
        assert [o for _, _, o in store.write(again, {("t", 0): 20}).new_vehicles] == [104, 105]
        q = conn.execute
        assert q("SELECT status, reconnects FROM camera_status WHERE camera_id=%s", (cam,)).fetchone() == (
            "DEGRADED",
            2,
        )
        assert q("SELECT count(*) FROM vehicle_events WHERE camera_id=%s", (cam,)).fetchone() == (6,)
        assert q("SELECT sum(vehicles) FROM vehicle_counts_minute WHERE camera_id=%s", (cam,)).fetchone() == (6,)
        assert q("SELECT counts_partition, counts_offset, name FROM cameras WHERE camera_id=%s", (cam,)).fetchone() == (
            2,
            105,
            f"Camera {cam}",
        )
        assert q("SELECT count(*) FROM traffic_stats WHERE camera_id=%s", (cam,)).fetchone() == (2,)
        assert q("SELECT sum(count) FROM traffic_stats_counts WHERE camera_id=%s", (cam,)).fetchone() == (5,)
        states = q("SELECT incident_id, state FROM incidents WHERE camera_id=%s ORDER BY 1", (cam,)).fetchall()
        assert states == [(f"{cam}-inc0", "CLOSED"), (f"{cam}-inc1", "OPEN")]

        deleted_at = datetime(2026, 1, 6, tzinfo=UTC)
        store.write(Batch(cameras=[CameraChange(cam, None, deleted_at)]), {("t", 0): 21})
        row = q("SELECT deleted_at, name, config, counts_offset FROM cameras WHERE camera_id=%s", (cam,)).fetchone()
        assert row == (deleted_at, None, None, 105)
