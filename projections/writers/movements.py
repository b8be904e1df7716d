"""Turning movements (its.movements.v1): one row per movement, and the per-minute origin-destination counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from projections.writers.rows import insert_new
from schemas.events import TurningMovement

__all__ = ["MOVEMENT_COLUMNS", "write_movements"]

Cursor = psycopg.Cursor[Any]

MOVEMENT_COLUMNS = (
    ("movement_id", "text"),
    ("camera_id", "text"),
    ("track_id", "bigint"),
    ("origin_zone_id", "text"),
    ("origin_name", "text"),
    ("destination_zone_id", "text"),
    ("destination_name", "text"),
    ("class_name", "text"),
    ("class_id", "int"),
    ("confidence", "float8"),
    ("frame_seq", "bigint"),
    ("entered_at", "timestamptz"),
    ("moved_at", "timestamptz"),
    ("speed_kmh", "float8"),
)


def write_movements(cur: Cursor, events: list[TurningMovement]) -> list[TurningMovement]:
    """Insert the movements not seen before and add only those to movement_counts_minute; return the new ones."""
    if not events:
        return []
    by_id = {e["movement_id"]: e for e in events}
    new = [by_id[k] for k in insert_new(cur, "movement_events", MOVEMENT_COLUMNS, by_id)]
    if not new:
        return []
    agg: dict[tuple[str, datetime, str, str, str], tuple[str, str, int]] = {}
    for e in sorted(new, key=lambda e: e["moved_at"]):
        minute = e["moved_at"].replace(second=0, microsecond=0)
        key = (e["camera_id"], minute, e["origin_zone_id"], e["destination_zone_id"], e["class_name"])
        n = agg.get(key, ("", "", 0))[2]
        agg[key] = (e["origin_name"], e["destination_name"], n + 1)
    rows = [(*k, *v) for k, v in agg.items()]
    cur.execute(
        "INSERT INTO movement_counts_minute (camera_id, minute, origin_zone_id, destination_zone_id, class_name,"
        " origin_name, destination_name, vehicles) SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::text[],"
        " %b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[])"
        " ON CONFLICT (camera_id, minute, origin_zone_id, destination_zone_id, class_name) DO UPDATE SET"
        " vehicles = movement_counts_minute.vehicles + EXCLUDED.vehicles,"
        " origin_name = EXCLUDED.origin_name, destination_name = EXCLUDED.destination_name",
        [list(col) for col in zip(*rows, strict=True)],
    )
    return new
