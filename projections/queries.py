"""Read-model queries the API serves (async psycopg; one function per question).

Lists are keyset-paginated: each takes the keyset of the last item already returned (`after`); the caller asks
for one item more than it shows, so it knows whether there is a next page without counting.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from projections.writers.cameras import STATUS_COLUMNS
from schemas.credentials import display_url

__all__ = [
    "BUCKETS",
    "BUCKET_ORIGIN",
    "analytics_state",
    "audit",
    "camera",
    "camera_config",
    "camera_known",
    "cameras",
    "counts",
    "detection_counts",
    "fleet",
    "frame_detections",
    "incident",
    "incidents",
    "stats",
    "vehicle_events",
]

BUCKETS = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday at midnight UTC: 1d buckets start at midnight UTC

Conn = AsyncConnection[Any]

_STATUS_COLS = tuple(c for c in STATUS_COLUMNS if c != "camera_id")  # the camera_status read model
_CAMERA_SELECT = (
    "SELECT c.camera_id, c.name, c.source_url, c.protocol, c.target_fps, c.enabled, c.config, c.config_updated_at,"
    " c.first_seen_at, c.last_seen_at, c.last_frame_seq, c.frames, c.detections, c.last_projected_at, "
    + ", ".join(f"s.{c} AS s_{c}" for c in _STATUS_COLS)
    + " FROM cameras c LEFT JOIN camera_status s ON s.camera_id = c.camera_id WHERE c.deleted_at IS NULL"
)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


#: ingest statuses of a camera that is sending frames: its detections should keep up with the clock
_SENDING = ("ONLINE", "DEGRADED")


def analytics_state(r: dict[str, Any], now: datetime, degraded_lag_s: float) -> dict[str, Any]:
    """How far a camera's detections are behind what it sent: DEGRADED beyond `degraded_lag_s`.

    Behind what: now while ingest reports the camera sending, else the last frame it reported sending
    (last_frame_at of its status). Behind from: the capture time of its newest detections projected
    (last_seen_at), else when its status last changed. UNKNOWN without an ingest status."""
    status = r.get("s_status")
    if status is None:
        return {"status": "UNKNOWN", "lag_s": None, "degraded_after_s": degraded_lag_s}
    upto = now if status in _SENDING else r.get("s_last_frame_at")
    since = r.get("last_seen_at") or r.get("s_changed_at")
    lag = max((upto - since).total_seconds(), 0.0) if upto is not None and since is not None else 0.0
    return {
        "status": "DEGRADED" if lag > degraded_lag_s else "OK",
        "lag_s": round(lag, 3),
        "degraded_after_s": degraded_lag_s,
    }


def _camera_doc(r: dict[str, Any], now: datetime | None = None, degraded_lag_s: float = 30.0) -> dict[str, Any]:
    doc = {k: _iso(v) for k, v in r.items() if not k.startswith("s_")}
    if doc["source_url"] is not None:
        doc["source_url"] = display_url(doc["source_url"])
    cfg = doc["config"]
    if isinstance(cfg, dict) and isinstance(cfg.get("source_url"), str):
        cfg = {**cfg, "source_url": display_url(cfg["source_url"])}
        cfg.pop("source_secret", None)  # sealed for ingest: never answered
        doc["config"] = cfg
    status = None
    if r["s_status"] is not None:
        status = {"camera_id": r["camera_id"], **{c: _iso(r[f"s_{c}"]) for c in _STATUS_COLS}}
    doc["status"] = status
    doc["analytics"] = analytics_state(r, now or datetime.now(UTC), degraded_lag_s)
    return doc


async def cameras(
    conn: Conn, limit: int, after: str | None = None, degraded_lag_s: float = 30.0
) -> list[dict[str, Any]]:
    """Configured or seen cameras by id, `limit` of them after `after`."""
    cur = conn.cursor(row_factory=dict_row)
    where = " AND c.camera_id > %s" if after is not None else ""
    args: tuple[Any, ...] = (after, limit) if after is not None else (limit,)
    await cur.execute(_CAMERA_SELECT + where + " ORDER BY c.camera_id LIMIT %s", args)
    now = datetime.now(UTC)
    return [_camera_doc(r, now, degraded_lag_s) for r in await cur.fetchall()]


async def camera(conn: Conn, camera_id: str, degraded_lag_s: float = 30.0) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_CAMERA_SELECT + " AND c.camera_id = %s", (camera_id,))
    row = await cur.fetchone()
    return _camera_doc(row, datetime.now(UTC), degraded_lag_s) if row else None


async def camera_known(conn: Conn, camera_id: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM cameras WHERE camera_id = %s AND deleted_at IS NULL", (camera_id,))
    return await cur.fetchone() is not None


async def camera_config(conn: Conn, camera_id: str) -> dict[str, Any] | None:
    """The stored CameraConfig (JSON; source_url redacted, source_secret sealed) of a configured camera: for the
    commands, never answered as it is."""
    cur = await conn.execute(
        "SELECT config FROM cameras WHERE camera_id = %s AND deleted_at IS NULL AND config IS NOT NULL", (camera_id,)
    )
    row = await cur.fetchone()
    return dict(row[0]) if row else None


def _filters(filters: dict[str, str | None]) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    args: list[Any] = []
    for col, val in filters.items():
        if val is not None:
            parts.append(sql.SQL(" AND {} = %s").format(sql.Identifier(col)))
            args.append(val)
    return sql.Composed(parts), args


def _doc(**fields: Any) -> dict[str, Any]:
    """An empty bucket, totals or line document; `_speed` (sum, samples) becomes its mean in `_finish`."""
    return {**fields, "vehicles": 0, "IN": 0, "OUT": 0, "by_class": defaultdict(int), "_speed": [0.0, 0.0]}


def _add(doc: dict[str, Any], line_id: str, cls: str, direction: str, n: int, s: float, sn: float) -> None:
    """Add `n` vehicles (speed sum `s` over `sn` of them) to a bucket or totals document and to its line."""
    line = doc["lines"].get(line_id)
    if line is None:
        line = doc["lines"][line_id] = _doc()
    for d in (doc, line):
        d["vehicles"] += n
        if direction in ("IN", "OUT"):
            d[direction] += n
        d["by_class"][cls] += n
        d["_speed"][0] += s
        d["_speed"][1] += sn


def _finish(doc: dict[str, Any], mean_speed: bool) -> None:
    """Sorted classes and lines, and the mean speed where `mean_speed` (the lines always have one)."""
    for d in (doc, *doc["lines"].values()):
        d["by_class"] = dict(sorted(d["by_class"].items()))
        s_sum, s_n = d.pop("_speed")
        if mean_speed or d is not doc:
            d["mean_speed_kmh"] = round(s_sum / s_n, 2) if s_n else None
    doc["lines"] = dict(sorted(doc["lines"].items()))


async def counts(
    conn: Conn, camera_id: str, start: datetime, end: datetime, bucket: str, filters: dict[str, str | None]
) -> dict[str, Any]:
    """Vehicles in `bucket`-wide windows of crossed time (start <= t < end), by direction and class, and the same
    per line (`lines`); buckets without vehicles are left out."""
    width = BUCKETS[bucket]
    where, args = _filters(filters)
    q = sql.SQL(
        "SELECT date_bin(%s, minute, %s) AS b, line_id, class_name, direction, sum(vehicles), sum(speed_sum),"
        " sum(speed_n) FROM vehicle_counts_minute WHERE camera_id = %s AND minute >= %s AND minute < %s{}"
        " GROUP BY b, line_id, class_name, direction ORDER BY b"
    ).format(where)
    cur = await conn.execute(q, (width, BUCKET_ORIGIN, camera_id, start, end, *args))
    per: dict[datetime, dict[str, Any]] = {}
    totals = _doc(lines={})
    for b, line_id, cls, direction, n, s_sum, s_n in await cur.fetchall():
        doc = per.get(b)
        if doc is None:
            doc = per[b] = _doc(start=b.isoformat(), end=(b + width).isoformat(), lines={})
        row = (line_id, cls, direction, int(n), float(s_sum), float(s_n))
        _add(doc, *row)
        _add(totals, *row)
    for doc in per.values():
        _finish(doc, mean_speed=True)
    _finish(totals, mean_speed=False)  # the totals' mean speed is per line only
    return {
        "camera_id": camera_id,
        "bucket": bucket,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "filters": {("class" if k == "class_name" else k): v for k, v in filters.items() if v is not None},
        "buckets": [per[b] for b in sorted(per)],
        "totals": totals,
    }


async def detection_counts(conn: Conn, camera_id: str, start: datetime, end: datetime, bucket: str) -> dict[str, Any]:
    """Frames and detections per class in `bucket`-wide windows of captured time (start <= t < end)."""
    width = BUCKETS[bucket]
    cur = await conn.execute(
        "SELECT date_bin(%s, minute, %s) AS b, sum(frames) FROM frames_minute"
        " WHERE camera_id = %s AND minute >= %s AND minute < %s GROUP BY b ORDER BY b",
        (width, BUCKET_ORIGIN, camera_id, start, end),
    )
    frames = {b: int(n) for b, n in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT date_bin(%s, minute, %s) AS b, class_name, sum(detections) FROM class_counts_minute"
        " WHERE camera_id = %s AND minute >= %s AND minute < %s GROUP BY b, class_name ORDER BY b, class_name",
        (width, BUCKET_ORIGIN, camera_id, start, end),
    )
    per: dict[datetime, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for b, cls, n in await cur.fetchall():
        per[b][cls] = int(n)
        totals[cls] += int(n)
    return {
        "camera_id": camera_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "bucket": bucket,
        "buckets": [
            {
                "start": b.isoformat(),
                "end": (b + width).isoformat(),
                "frames": frames.get(b, 0),
                "counts": per.get(b, {}),
            }
            for b in sorted(set(frames) | set(per))
        ],
        "totals": {"frames": sum(frames.values()), "counts": dict(sorted(totals.items()))},
    }


async def vehicle_events(
    conn: Conn,
    camera_id: str,
    start: datetime,
    end: datetime,
    filters: dict[str, str | None],
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    """Newest first, keyset (crossed_at, event_id)."""
    where, args = _filters(filters)
    if after is not None:
        where = sql.Composed([where, sql.SQL(" AND (crossed_at, event_id) < (%s, %s)")])
        args += list(after)
    q = sql.SQL(
        "SELECT event_id, camera_id, line_id, line_name, track_id, direction, motion, class_name, class_id,"
        " confidence, frame_seq, crossed_at, x, y, speed_kmh FROM vehicle_events"
        " WHERE camera_id = %s AND crossed_at >= %s AND crossed_at < %s{}"
        " ORDER BY crossed_at DESC, event_id DESC LIMIT %s"
    ).format(where)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(q, (camera_id, start, end, *args, limit))
    return await cur.fetchall()


async def stats(
    conn: Conn, camera_id: str, start: datetime, end: datetime, limit: int, after: datetime | None
) -> list[dict[str, Any]]:
    """TrafficStatsWindow rows whose window starts in [start, end), oldest first, each with its line counts."""
    cur = conn.cursor(row_factory=dict_row)
    lo = start
    if after is not None:
        lo = max(start, after + timedelta(microseconds=1)) if after < datetime.max.replace(tzinfo=UTC) else end
    await cur.execute(
        "SELECT camera_id, window_start, window_end, frames, vehicles, mean_speed_kmh, speed_samples,"
        " mean_occupancy, late_frames, closed_by, missing_frames, stale_frames, complete FROM traffic_stats"
        " WHERE camera_id = %s AND window_start >= %s AND window_start < %s ORDER BY window_start LIMIT %s",
        (camera_id, lo, end, limit),
    )
    windows = await cur.fetchall()
    if not windows:
        return []
    await cur.execute(
        "SELECT window_start, line_id, class_name, direction, count FROM traffic_stats_counts"
        " WHERE camera_id = %s AND window_start = ANY(%s) ORDER BY window_start, line_id, class_name, direction",
        (camera_id, [w["window_start"] for w in windows]),
    )
    per: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for r in await cur.fetchall():
        per[r.pop("window_start")].append(r)
    for w in windows:
        w["counts"] = per.get(w["window_start"], [])
    return windows


_INCIDENT_COLS = (
    "incident_id, camera_id, type, state, started_at, ended_at, track_id, class_name, line_id, zone_id, value, detail"
)


async def incidents(
    conn: Conn,
    filters: dict[str, str | None],
    start: datetime,
    end: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[dict[str, Any]]:
    """Newest first, keyset (started_at, incident_id)."""
    where, args = _filters(filters)
    if after is not None:
        where = sql.Composed([where, sql.SQL(" AND (started_at, incident_id) < (%s, %s)")])
        args += list(after)
    q = sql.SQL(
        "SELECT " + _INCIDENT_COLS + " FROM incidents WHERE started_at >= %s AND started_at < %s{}"
        " ORDER BY started_at DESC, incident_id DESC LIMIT %s"
    ).format(where)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(q, (start, end, *args, limit))
    return await cur.fetchall()


async def incident(conn: Conn, incident_id: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT " + _INCIDENT_COLS + " FROM incidents WHERE incident_id = %s", (incident_id,))
    return await cur.fetchone()


async def fleet(conn: Conn, now: datetime) -> dict[str, Any]:
    """Cameras by status, vehicles counted today (UTC), open incidents and frames of the last hour."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    cur = await conn.execute(
        "SELECT coalesce(s.status, 'UNKNOWN'), count(*) FROM cameras c LEFT JOIN camera_status s USING (camera_id)"
        " WHERE c.deleted_at IS NULL GROUP BY 1 ORDER BY 1"
    )
    by_status = {str(k): int(n) for k, n in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT (SELECT coalesce(sum(vehicles), 0) FROM vehicle_counts_minute WHERE minute >= %s),"
        " (SELECT count(*) FROM incidents WHERE state = 'OPEN'),"
        " (SELECT count(*) FROM frames WHERE captured_at >= %s AND captured_at <= %s)",
        (today, now - timedelta(hours=1), now),
    )
    row = await cur.fetchone()
    assert row is not None
    return {
        "cameras": sum(by_status.values()),
        "by_status": by_status,
        "vehicles_today": int(row[0]),
        "open_incidents": int(row[1]),
        "frames_last_hour": int(row[2]),
        "at": now.isoformat(),
    }


async def audit(
    conn: Conn, key_id: str | None, start: datetime, end: datetime, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Newest first, keyset id."""
    where, args = _filters({"key_id": key_id})
    if after is not None:
        where = sql.Composed([where, sql.SQL(" AND id < %s")])
        args.append(after)
    q = sql.SQL(
        "SELECT id, at, key_id, method, path, route, query, status, duration_ms, client, request_id FROM audit_log"
        " WHERE at >= %s AND at < %s{} ORDER BY id DESC LIMIT %s"
    ).format(where)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(q, (start, end, *args, limit))
    return await cur.fetchall()


async def frame_detections(conn: Conn, camera_id: str, frame_seq: int | None, limit: int) -> list[dict[str, Any]]:
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
        doc = {k: _iso(v) for k, v in f.items()}
        doc["detections"] = dets.get((f["captured_at"], f["frame_seq"]), [])
        out.append(doc)
    return out
