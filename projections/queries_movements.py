"""Turning movements from PostgreSQL: the origin-destination matrix of a camera's approach zones per time bucket."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from projections.queries import BUCKET_ORIGIN, BUCKETS

__all__ = ["movements"]

Conn = AsyncConnection[Any]


def _doc() -> dict[str, Any]:
    return {"vehicles": 0, "matrix": defaultdict(lambda: defaultdict(int)), "by_class": defaultdict(int)}


def _plain(doc: dict[str, Any]) -> dict[str, Any]:
    doc["matrix"] = {o: dict(sorted(d.items())) for o, d in sorted(doc["matrix"].items())}
    doc["by_class"] = dict(sorted(doc["by_class"].items()))
    return doc


async def movements(
    conn: Conn, camera_id: str, start: datetime, end: datetime, bucket: str, class_name: str | None
) -> dict[str, Any]:
    """Movements in `bucket`-wide windows of moved time (start <= t < end): origin zone -> destination zone ->
    vehicles, and by class; buckets without movements are left out. `approaches` names every zone that appears,
    and every approach zone of the camera's configuration (its current names win)."""
    width = BUCKETS[bucket]
    only = " AND class_name = %s" if class_name is not None else ""
    cur = await conn.execute(
        "SELECT date_bin(%s, minute, %s) AS b, origin_zone_id, destination_zone_id, class_name, sum(vehicles),"
        " (array_agg(origin_name ORDER BY minute DESC))[1], (array_agg(destination_name ORDER BY minute DESC))[1]"
        " FROM movement_counts_minute"
        " WHERE camera_id = %s AND minute >= %s AND minute < %s" + only + " GROUP BY b, origin_zone_id,"
        " destination_zone_id, class_name ORDER BY b",
        (width, BUCKET_ORIGIN, camera_id, start, end, *([class_name] if class_name is not None else [])),
    )
    per: dict[datetime, dict[str, Any]] = {}
    totals = _doc()
    approaches: dict[str, str] = {}
    for b, origin, dest, cls, n, o_name, d_name in await cur.fetchall():  # oldest bucket first: the latest names win
        approaches[origin] = o_name or origin
        approaches[dest] = d_name or dest
        doc = per.get(b)
        if doc is None:
            doc = per[b] = {"start": b.isoformat(), "end": (b + width).isoformat(), **_doc()}
        for d in (doc, totals):
            d["vehicles"] += int(n)
            d["matrix"][origin][dest] += int(n)
            d["by_class"][cls] += int(n)
    cur = await conn.execute(
        "SELECT z->>'zone_id', z->>'name' FROM cameras, jsonb_array_elements(coalesce(config->'zones', '[]')) z"
        " WHERE camera_id = %s AND deleted_at IS NULL AND z->>'kind' = 'approach'",
        (camera_id,),
    )
    for zone_id, name in await cur.fetchall():
        approaches[zone_id] = name or zone_id
    return {
        "camera_id": camera_id,
        "bucket": bucket,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "filters": {"class": class_name} if class_name is not None else {},
        "approaches": dict(sorted(approaches.items())),
        "buckets": [_plain(per[b]) for b in sorted(per)],
        "totals": _plain(totals),
    }
