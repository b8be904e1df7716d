"""Retention per data kind, as settings (env ITS_RETENTION_*), enforced by `itscam db retention` (the daily
retention job) and, for the frames topic, by `itscam topics apply` (the topic's retention.ms).

| kind           | setting                              | what goes                                                 |
|----------------|--------------------------------------|-----------------------------------------------------------|
| frames         | ITS_RETENTION_FRAMES_MS              | its.frames.v1 retention.ms (default 2 h)                  |
| detections     | ITS_RETENTION_DETECTIONS_DAYS        | frames/detections day partitions (dropped whole)          |
| vehicle events | ITS_RETENTION_VEHICLE_EVENTS_DAYS    | vehicle_events, movement_events, closed incidents         |
| statistics     | ITS_RETENTION_STATISTICS_DAYS        | traffic_stats(_counts), *_minute count tables             |
| audit          | ITS_RETENTION_AUDIT_DAYS             | audit_log rows                                            |

A day setting left unset keeps that kind for ever (as before). Rows are deleted when their time is older than
now - days (partitions: when their whole day is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.partitions import drop_old_partitions

__all__ = ["ROW_TABLES", "RetentionReport", "RetentionSettings", "apply_retention"]

#: kind -> (table, time column, extra condition) of the rows it deletes
ROW_TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "vehicle_events": (
        ("vehicle_events", "crossed_at", ""),
        ("movement_events", "moved_at", ""),
        ("incidents", "ended_at", " AND state = 'CLOSED'"),
    ),
    "statistics": (
        ("traffic_stats", "window_end", ""),
        ("traffic_stats_counts", "window_start", ""),
        ("vehicle_counts_minute", "minute", ""),
        ("movement_counts_minute", "minute", ""),
        ("frames_minute", "minute", ""),
        ("class_counts_minute", "minute", ""),
    ),
    "audit": (("audit_log", "at", ""),),
}


class RetentionSettings(BaseSettings):
    """How long each kind of data is kept (unset: for ever)."""

    model_config = SettingsConfigDict(env_prefix="ITS_RETENTION_", extra="ignore")

    frames_ms: int | None = Field(
        None, ge=60_000, description="its.frames.v1 retention.ms, applied by `itscam topics apply` (default 2 h)."
    )
    detections_days: int | None = Field(None, ge=0, description="Days of frames/detections partitions kept.")
    vehicle_events_days: int | None = Field(
        None, ge=0, description="Days of vehicle events, turning movements and closed incidents kept."
    )
    statistics_days: int | None = Field(
        None, ge=0, description="Days of statistics kept (traffic_stats windows, per-minute count tables)."
    )
    audit_days: int | None = Field(None, ge=0, description="Days of audit_log rows kept.")

    def days(self, kind: str) -> int | None:
        value: int | None = getattr(self, f"{kind}_days")
        return value


@dataclass
class RetentionReport:
    now: datetime
    dropped_partitions: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)  # table -> rows (would be) deleted
    kept_kinds: list[str] = field(default_factory=list)  # kinds with no setting: kept for ever


def apply_retention(
    conn: psycopg.Connection[Any],
    s: RetentionSettings,
    *,
    detections_days: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> RetentionReport:
    """Enforce every retention setting (`detections_days` overrides the setting: --keep-days)."""
    now = now or datetime.now(UTC)
    rep = RetentionReport(now)
    keep = detections_days if detections_days is not None else s.detections_days
    if keep is None:
        rep.kept_kinds.append("detections")
    else:
        rep.dropped_partitions = drop_old_partitions(conn, keep, dry_run=dry_run, now=now).dropped
    for kind, tables in ROW_TABLES.items():
        days = s.days(kind)
        if days is None:
            rep.kept_kinds.append(kind)
            continue
        cutoff = now - timedelta(days=days)
        with conn.transaction():
            for table, col, extra in tables:
                verb = "SELECT count(*) FROM" if dry_run else "DELETE FROM"
                cur = conn.execute(f"{verb} {table} WHERE {col} < %s{extra}", (cutoff,))
                row = cur.fetchone() if dry_run else None
                rep.deleted[table] = int(row[0]) if row else cur.rowcount
    return rep
