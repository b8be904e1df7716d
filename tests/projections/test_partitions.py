"""Daily partitions of frames/detections: created on demand, dropped by `itscam db retention`."""

import subprocess
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from deploy.stack.settings import repo_root
from projections.batch import Batch
from projections.db import connect
from projections.partitions import drop_old_partitions, existing_partitions, partition_name
from projections.store import PgStore
from tests.projections.factories import detections_event
from tests.projections.readmodels import scratch_schema

pytestmark = pytest.mark.integration


def test_partitions_are_created_per_utc_day_and_retention_drops_whole_old_days(pg_dsn: str, unique: str) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=10), now - timedelta(hours=1)
    cam = f"cam-{unique}"
    with scratch_schema(pg_dsn) as schema, connect(pg_dsn, schema) as conn:
        store = PgStore(conn, f"g-{unique}")
        store.write(
            Batch(detections=[detections_event(cam, 0, ["car"], old), detections_event(cam, 1, [], recent)]), {}
        )
        days = existing_partitions(conn)
        conn.commit()
        assert sorted(days["frames"]) == sorted(days["detections"]) == sorted({old.date(), recent.date()})

        cli = [str(repo_root() / ".venv/bin/itscam"), "db", "retention", "--keep-days", "3", "--schema", schema]
        out = subprocess.run([*cli, "--dry-run", "--dsn", pg_dsn], capture_output=True, text=True, check=True).stdout
        assert f"would drop {schema}.{partition_name('frames', old.date())}" in out
        assert partition_name("frames", recent.date()) not in out
        assert conn.execute("SELECT count(*) FROM frames").fetchone() == (2,)  # dry run: nothing dropped
        conn.commit()

        out = subprocess.run([*cli, "--dsn", pg_dsn], capture_output=True, text=True, check=True).stdout
        assert "dropped 2" in out
        assert conn.execute("SELECT frame_seq FROM frames").fetchall() == [(1,)]
        conn.commit()

        # The store still remembers the dropped day: the insert finds no partition ...
        late = Batch(detections=[detections_event(cam, 2, ["bus"], old)])
        with pytest.raises(psycopg.errors.CheckViolation):
            store.write(late, {})
        conn.rollback()
        # ... and once told to forget, it creates it again (the projector does this on that error).
        store.partitions.forget()
        store.write(late, {})
        assert conn.execute("SELECT count(*) FROM detections WHERE frame_seq = 2").fetchone() == (1,)
        conn.commit()

        res = drop_old_partitions(conn, 0, dry_run=True, now=now + timedelta(days=2))
        assert len(res.dropped) == 4 and res.kept == []
