"""Purging a deleted camera: `DELETE /v1/cameras/{id}?purge=true` appends a tombstone carrying the Kafka header
`its-purge: 1`; the projector that applies it removes every read-model row of the camera (same PostgreSQL
transaction as the tombstone and the offsets, so a purge is applied exactly once with them) and, after the commit,
its Redis keys. A plain tombstone (no header) keeps today's behaviour: the camera is marked deleted, its history
stays queryable by id until retention removes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import redis

if TYPE_CHECKING:
    from projections.batch import CameraChange

__all__ = ["PURGED_TABLES", "PURGE_HEADER", "is_purge", "purge_redis", "purge_rows", "purged_cameras", "redis_keys"]

#: the Kafka header of a purging tombstone (value b"1")
PURGE_HEADER = "its-purge"

#: every read-model table with rows per camera (projections/migrations), children before the cameras row
PURGED_TABLES = (
    "detections",
    "frames",
    "frames_minute",
    "class_counts_minute",
    "camera_status",
    "vehicle_events",
    "vehicle_counts_minute",
    "traffic_stats",
    "traffic_stats_counts",
    "incidents",
    "movement_events",
    "movement_counts_minute",
    "cameras",
)


def is_purge(headers: Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None) -> bool:
    """Whether a record's headers ask for a purge (`its-purge: 1`)."""
    if isinstance(headers, Mapping):
        headers = list(headers.items())
    return any(k == PURGE_HEADER and v in (b"1", "1") for k, v in headers or ())


def purged_cameras(changes: Iterable[CameraChange]) -> list[str]:
    """Cameras whose last record in a batch is a purging tombstone (one re-created after it is not purged)."""
    last: dict[str, CameraChange] = {}
    for ch in changes:
        last[ch.camera_id] = ch
    return [c for c, ch in last.items() if ch.purge and ch.config is None]


def purge_rows(cur: psycopg.Cursor[Any], camera_ids: Iterable[str]) -> dict[str, int]:
    """Delete every row of these cameras from the read models; rows deleted per table."""
    cams = sorted(set(camera_ids))
    if not cams:
        return {}
    out: dict[str, int] = {}
    for table in PURGED_TABLES:
        cur.execute(f"DELETE FROM {table} WHERE camera_id = ANY(%s)", (cams,))
        out[table] = cur.rowcount
    return out


def redis_keys(camera_id: str) -> list[str]:
    """Every Redis key the projector keeps for one camera (projections/cache.py, projections/snapshots.py)."""
    from projections.cache import counts_key, live_key, status_key
    from projections.snapshots import pending_key, snapshot_key

    return [
        live_key(camera_id),
        status_key(camera_id),
        counts_key(camera_id),
        snapshot_key(camera_id),
        pending_key(camera_id),
    ]


def purge_redis(client: redis.Redis, camera_ids: Iterable[str]) -> int:
    """Delete the cameras' Redis keys (idempotent); how many existed."""
    keys = [k for c in camera_ids for k in redis_keys(c)]
    return int(client.delete(*keys)) if keys else 0
