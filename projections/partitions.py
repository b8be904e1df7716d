"""Daily partitions of frames and detections: created on demand by the projector, dropped by retention.

A partition holds one UTC day of captured_at: frames_pYYYYMMDD / detections_pYYYYMMDD, FOR VALUES FROM (day) TO
(day + 1). Names are resolved through the connection's search_path, so they live in the schema being projected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

__all__ = ["PARTITIONED", "Partitions", "RetentionResult", "drop_old_partitions", "partition_name"]

PARTITIONED = ("frames", "detections")
_NAME = re.compile(r"^(frames|detections)_p(\d{8})$")
_LOCK_KEY = 7_305_115  # serialises partition creation between projectors of one schema


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def existing_partitions(conn: psycopg.Connection[Any]) -> dict[str, list[date]]:
    """Parent table -> the days it has a partition for (in the connection's current schema)."""
    rows = conn.execute(
        "SELECT parent.relname, child.relname FROM pg_inherits i"
        " JOIN pg_class parent ON parent.oid = i.inhparent JOIN pg_class child ON child.oid = i.inhrelid"
        " JOIN pg_namespace n ON n.oid = parent.relnamespace"
        " WHERE n.nspname = current_schema() AND parent.relname = ANY(%s)",
        (list(PARTITIONED),),
    ).fetchall()
    out: dict[str, list[date]] = {t: [] for t in PARTITIONED}
    for parent, child in rows:
        m = _NAME.match(child)
        if m:
            out[parent].append(datetime.strptime(m.group(2), "%Y%m%d").date())
    return out


class Partitions:
    """Creates the day partitions a batch needs, remembering those that exist so a batch of known days costs
    nothing. `forget()` after an insert found no partition (retention or a schema swap dropped one)."""

    def __init__(self) -> None:
        self._known: set[date] | None = None

    def forget(self) -> None:
        self._known = None

    def ensure(self, conn: psycopg.Connection[Any], days: Iterable[date]) -> list[date]:
        """Create missing partitions of `days` in their own committed transaction; return the days created.

        Own transaction, before the batch's: CREATE TABLE ... PARTITION OF locks the parent, and holding that
        lock through a batch would serialise every projector of the schema behind it.
        """
        if self._known is None:
            have = existing_partitions(conn)
            conn.commit()
            self._known = set(have["frames"]) & set(have["detections"])
        missing = sorted(set(days) - self._known)
        if not missing:
            return []
        for attempt in (1, 2):
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", (_LOCK_KEY,))
                    for day in missing:
                        start, end = _bounds(day)
                        for table in PARTITIONED:
                            conn.execute(
                                f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table}"
                                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                            )
                break
            except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
                # Created at the same moment by a writer that does not take our lock: it exists now.
                if attempt == 2:
                    raise
        self._known.update(missing)
        return missing


@dataclass(frozen=True)
class RetentionResult:
    cutoff: datetime  # partitions whose day ends at or before this are dropped
    dropped: list[str]
    kept: list[str]


def drop_old_partitions(
    conn: psycopg.Connection[Any], keep_days: int, dry_run: bool = False, now: datetime | None = None
) -> RetentionResult:
    """Drop the frames/detections partitions whose whole day is older than `keep_days` days (ended at or before
    now - keep_days). With `dry_run`, only report what would go. One transaction."""
    if keep_days < 0:
        raise ValueError(f"keep_days is {keep_days}; give 0 or more days to keep.")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    dropped: list[str] = []
    kept: list[str] = []
    with conn.transaction():
        for table, days in existing_partitions(conn).items():
            for day in sorted(days):
                name = partition_name(table, day)
                if _bounds(day)[1] <= cutoff:
                    dropped.append(name)
                    if not dry_run:
                        conn.execute(f"DROP TABLE {name}")
                else:
                    kept.append(name)
    return RetentionResult(cutoff, sorted(dropped), sorted(kept))
