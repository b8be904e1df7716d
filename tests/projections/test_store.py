"""PostgreSQL read models on the real local PostgreSQL."""

from datetime import timedelta

import psycopg
import pytest

from projections.store import PgStore
from tests.projections.factories import T0, detections_event

pytestmark = pytest.mark.integration


def test_batch_writes_frames_detections_counts_and_offsets_once(pg_dsn: str, unique: str) -> None:
    cam, group = f"cam-{unique}", f"g-{unique}"
    events = [
        detections_event(cam, 0, ["car", "car", "truck"]),
        detections_event(cam, 1, ["car"]),
        detections_event(cam, 700, ["bus"]),
    ]  # 70 s later: next minute
    with psycopg.connect(pg_dsn) as conn:
        store = PgStore(conn, group)
        stats = store.write(events, {("topic-a", 3): 42})
        assert (stats.frames_new, stats.frames_duplicate, stats.detections) == (3, 0, 5)
        # Replaying the same events (e.g. after a crash before Kafka saw the commit) changes nothing.
        again = store.write(events, {("topic-a", 3): 42})
        assert (again.frames_new, again.frames_duplicate, again.detections) == (0, 3, 0)
        assert store.offsets("topic-a") == {3: 42}

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


def test_a_failed_batch_leaves_nothing_behind(pg_dsn: str, unique: str) -> None:
    cam, group = f"cam-{unique}", f"g-{unique}"
    bad = detections_event(cam, 0, ["car"])
    bad["detections"][0]["class_name"] = "x\x00y"  # PostgreSQL text cannot hold NUL: the COPY fails
    with psycopg.connect(pg_dsn) as conn:
        store = PgStore(conn, group)
        with pytest.raises(psycopg.Error):
            store.write([bad], {("topic-b", 0): 7})
        conn.rollback()
        assert store.offsets("topic-b") == {}
        assert conn.execute("SELECT count(*) FROM frames WHERE camera_id=%s", (cam,)).fetchone() == (0,)
