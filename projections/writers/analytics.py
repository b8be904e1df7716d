"""Analytics outputs: vehicle events (+ per-minute counts), traffic statistics windows and incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from projections.writers.rows import insert_new
from schemas.events import IncidentDetected, TrafficStatsWindow, VehicleCounted

__all__ = [
    "INCIDENT_COLUMNS",
    "VEHICLE_COLUMNS",
    "counted_cameras",
    "write_incidents",
    "write_traffic_stats",
    "write_vehicle_events",
]

Cursor = psycopg.Cursor[Any]

VEHICLE_COLUMNS = (
    ("event_id", "text"),
    ("camera_id", "text"),
    ("line_id", "text"),
    ("line_name", "text"),
    ("track_id", "bigint"),
    ("direction", "text"),
    ("motion", "text"),
    ("class_name", "text"),
    ("class_id", "int"),
    ("confidence", "float8"),
    ("frame_seq", "bigint"),
    ("crossed_at", "timestamptz"),
    ("x", "float8"),
    ("y", "float8"),
    ("speed_kmh", "float8"),
)
INCIDENT_COLUMNS = (
    "incident_id",
    "camera_id",
    "type",
    "state",
    "started_at",
    "ended_at",
    "track_id",
    "class_name",
    "line_id",
    "zone_id",
    "value",
    "detail",
)


def counted_cameras(cur: Cursor, events: list[tuple[VehicleCounted, int, int]]) -> set[str]:
    """The cameras of `events` that had vehicles counted before (cameras.counts_offset set): their Redis counters
    must exist, and a missing one was lost (Redis flushed or restarted empty), not never made."""
    cams = sorted({e["camera_id"] for e, _, _ in events})
    if not cams:
        return set()
    cur.execute("SELECT camera_id FROM cameras WHERE camera_id = ANY(%s) AND counts_offset IS NOT NULL", (cams,))
    return {r[0] for r in cur.fetchall()}


def write_vehicle_events(
    cur: Cursor, events: list[tuple[VehicleCounted, int, int]]
) -> list[tuple[VehicleCounted, int, int]]:
    """Insert the vehicle events not seen before, add only those to vehicle_counts_minute, and record per camera
    the partition/offset of its last vehicle event; return the new ones (with partition and offset)."""
    if not events:
        return []
    by_id = {e["event_id"]: (e, p, o) for e, p, o in events}
    inserted = insert_new(cur, "vehicle_events", VEHICLE_COLUMNS, {k: e for k, (e, _, _) in by_id.items()})
    new = [by_id[k] for k in inserted]
    new.sort(key=lambda t: (t[1], t[2]))
    if new:
        agg: dict[tuple[str, datetime, str, str, str], tuple[int, float, int]] = {}
        for e, _, _ in new:
            minute = e["crossed_at"].replace(second=0, microsecond=0)
            key = (e["camera_id"], minute, e["line_id"], e["class_name"], e["direction"])
            n, ssum, sn = agg.get(key, (0, 0.0, 0))
            speed = e["speed_kmh"]
            agg[key] = (n + 1, ssum + (speed or 0.0), sn + (speed is not None))
        rows = [(*k, *v) for k, v in agg.items()]
        cur.execute(
            "INSERT INTO vehicle_counts_minute (camera_id, minute, line_id, class_name, direction, vehicles, speed_sum,"
            " speed_n) SELECT * FROM unnest(%b::text[], %b::timestamptz[], %b::text[], %b::text[], %b::text[],"
            " %b::bigint[], %b::float8[], %b::bigint[])"
            " ON CONFLICT (camera_id, minute, line_id, class_name, direction) DO UPDATE SET"
            " vehicles = vehicle_counts_minute.vehicles + EXCLUDED.vehicles,"
            " speed_sum = vehicle_counts_minute.speed_sum + EXCLUDED.speed_sum,"
            " speed_n = vehicle_counts_minute.speed_n + EXCLUDED.speed_n",
            [list(col) for col in zip(*rows, strict=True)],
        )
    last: dict[str, tuple[int, int]] = {}
    for e, p, o in events:
        if e["camera_id"] not in last or o > last[e["camera_id"]][1]:
            last[e["camera_id"]] = (p, o)
    cams = list(last.items())
    cur.execute(
        "INSERT INTO cameras (camera_id, counts_partition, counts_offset)"
        " SELECT * FROM unnest(%b::text[], %b::int[], %b::bigint[])"
        " ON CONFLICT (camera_id) DO UPDATE SET counts_partition = EXCLUDED.counts_partition,"
        " counts_offset = GREATEST(cameras.counts_offset, EXCLUDED.counts_offset)",
        ([c for c, _ in cams], [po[0] for _, po in cams], [po[1] for _, po in cams]),
    )
    return new


def write_traffic_stats(cur: Cursor, windows: list[TrafficStatsWindow]) -> None:
    """Upsert each window and its counts (a window written again replaces its values: idempotent)."""
    last = {(w["camera_id"], w["window_start"]): w for w in windows}
    if not last:
        return
    cols = (
        "camera_id",
        "window_start",
        "window_end",
        "frames",
        "vehicles",
        "mean_speed_kmh",
        "speed_samples",
        "mean_occupancy",
        "late_frames",
        "closed_by",
        "missing_frames",
        "stale_frames",
        "complete",
    )
    # missing_frames, stale_frames, complete: absent from a record built by hand means what the Avro defaults say
    defaults = {"missing_frames": 0, "stale_frames": 0, "complete": True}
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[2:])
    cur.executemany(
        f"INSERT INTO traffic_stats ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
        f" ON CONFLICT (camera_id, window_start) DO UPDATE SET {sets}",
        [tuple(w.get(c, defaults.get(c)) for c in cols) for w in last.values()],
    )
    counts = {
        (w["camera_id"], w["window_start"], c["line_id"], c["class_name"], c["direction"]): c["count"]
        for w in last.values()
        for c in w["counts"]
    }
    if counts:
        cur.executemany(
            "INSERT INTO traffic_stats_counts (camera_id, window_start, line_id, class_name, direction, count)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (camera_id, window_start, line_id, class_name, direction)"
            " DO UPDATE SET count = EXCLUDED.count",
            [(*k, n) for k, n in counts.items()],
        )


def final_incidents(incidents: list[IncidentDetected]) -> list[IncidentDetected]:
    """Per incident the record that stands: the last CLOSED one if any, else the last OPEN one."""
    out: dict[str, IncidentDetected] = {}
    for i in incidents:
        cur = out.get(i["incident_id"])
        if cur is None or not (cur["state"] == "CLOSED" and i["state"] != "CLOSED"):
            out[i["incident_id"]] = i
    return list(out.values())


def write_incidents(cur: Cursor, incidents: list[IncidentDetected]) -> list[IncidentDetected]:
    """Upsert incidents; CLOSED is final (an OPEN arriving after CLOSED changes nothing). Return those applied."""
    rows = final_incidents(incidents)
    if not rows:
        return []
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in INCIDENT_COLUMNS[1:])
    cur.executemany(
        f"INSERT INTO incidents ({', '.join(INCIDENT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(INCIDENT_COLUMNS))})"
        f" ON CONFLICT (incident_id) DO UPDATE SET {sets} WHERE incidents.state <> 'CLOSED'",
        [tuple(i[c] for c in INCIDENT_COLUMNS) for i in rows],  # type: ignore[literal-required]
    )
    return rows
