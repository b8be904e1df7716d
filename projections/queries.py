"""Read-model queries the API serves (async psycopg; one function per question)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

__all__ = ["BUCKETS", "camera", "cameras", "counts", "frame_detections"]

BUCKETS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}

_CAMERA_COLS = "camera_id, first_seen_at, last_seen_at, last_frame_seq, frames, detections, last_projected_at"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


async def cameras(conn: AsyncConnection[Any], limit: int = 1000) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_CAMERA_COLS} FROM cameras ORDER BY camera_id LIMIT %s", (limit,))
    return [_jsonable(r) for r in await cur.fetchall()]


async def camera(conn: AsyncConnection[Any], camera_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_CAMERA_COLS} FROM cameras WHERE camera_id = %s", (camera_id,))
    row = await cur.fetchone()
    return _jsonable(row) if row else None


async def counts(
    conn: AsyncConnection[Any], camera_id: str, start: datetime, end: datetime, bucket: str
) -> dict[str, Any]:
    """Frames and detections per class in `bucket`-wide windows of captured time, start <= t < end."""
    width = BUCKETS[bucket]
    origin = datetime(2000, 1, 3, tzinfo=start.tzinfo)  # a Monday, so 1d buckets start at midnight UTC
    cur = conn.cursor()
    await cur.execute(
        "SELECT date_bin(%s, minute, %s) AS b, sum(frames) FROM frames_minute"
        " WHERE camera_id = %s AND minute >= %s AND minute < %s GROUP BY b ORDER BY b",
        (width, origin, camera_id, start, end),
    )
    frames = {b: int(n) for b, n in await cur.fetchall()}
    await cur.execute(
        "SELECT date_bin(%s, minute, %s) AS b, class_name, sum(detections) FROM class_counts_minute"
        " WHERE camera_id = %s AND minute >= %s AND minute < %s GROUP BY b, class_name ORDER BY b, class_name",
        (width, origin, camera_id, start, end),
    )
    per: dict[datetime, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for b, cls, n in await cur.fetchall():
        per[b][cls] = int(n)
        totals[cls] += int(n)
    buckets = [
        {"start": b.isoformat(), "end": (b + width).isoformat(), "frames": frames.get(b, 0), "counts": per.get(b, {})}
        for b in sorted(set(frames) | set(per))
    ]
    return {
        "camera_id": camera_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "bucket": bucket,
        "buckets": buckets,
        "totals": {"frames": sum(frames.values()), "counts": dict(sorted(totals.items()))},
    }


async def frame_detections(
    conn: AsyncConnection[Any], camera_id: str, frame_seq: int | None, limit: int
) -> list[dict[str, Any]]:
    """Latest frames (or the frames with `frame_seq`) of a camera, each with its detections."""
    cur = conn.cursor(row_factory=dict_row)
    where = "camera_id = %s" + (" AND frame_seq = %s" if frame_seq is not None else "")
    params: tuple[Any, ...] = (camera_id, frame_seq) if frame_seq is not None else (camera_id,)
    await cur.execute(
        "SELECT camera_id, frame_seq, captured_at, width, height, model_name, model_sha256, inference_ms,"
        f" produced_at, projected_at FROM frames WHERE {where} ORDER BY captured_at DESC LIMIT %s",
        (*params, limit),
    )
    frames = await cur.fetchall()
    if not frames:
        return []
    await cur.execute(
        "SELECT captured_at, frame_seq, class_id, class_name, confidence, x1, y1, x2, y2 FROM detections"
        " WHERE camera_id = %s AND captured_at = ANY(%s) ORDER BY captured_at, frame_seq, idx",
        (camera_id, [f["captured_at"] for f in frames]),
    )
    dets: dict[tuple[datetime, int], list[dict[str, Any]]] = defaultdict(list)
    for d in await cur.fetchall():
        key = (d.pop("captured_at"), d.pop("frame_seq"))
        dets[key].append(d)
    out = []
    for f in frames:
        doc = _jsonable(f)
        doc["detections"] = dets.get((f["captured_at"], f["frame_seq"]), [])
        out.append(doc)
    return out
