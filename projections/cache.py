"""Redis caches the projector keeps after each PostgreSQL commit, and their rebuild from PostgreSQL.

Keys (the API reads them): its:live:{camera_id} (latest frame), its:status:{camera_id} (latest status),
its:counts:{camera_id} (today's counters); events are published to one pub/sub channel. Every update is idempotent:
newer-wins by time for live/status, offset-guarded for counters, so replays never go back in time or count twice.

Redis can lose every key (FLUSHALL, a restart without persistence). Counting on from nothing would leave the
counters short for good, so a camera whose vehicles PostgreSQL has counted before (`counted_cameras`) has its
counter increments refused while its counts key is missing; the projector then rebuilds the camera's keys from
PostgreSQL (CacheRepair). While idle it also looks for cameras whose keys PostgreSQL says should exist
(`missing_keys`): a flush after the last event is repaired too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from projections.writers.analytics import INCIDENT_COLUMNS, VEHICLE_COLUMNS
from projections.writers.cameras import STATUS_COLUMNS, newest_statuses
from schemas.events import CameraStatusChanged, DetectionsProduced, IncidentDetected, VehicleCounted

__all__ = [
    "CacheRepair",
    "LiveCache",
    "counts_key",
    "live_document",
    "live_key",
    "missing_keys",
    "rebuild_redis_from_pg",
    "status_document",
    "status_key",
]

# Set only when the event is at least as new as what is cached, so replays and reordering never
# overwrite a newer state with an older one.
_SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'ts')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'json', ARGV[2])
return 1
"""

# ARGV: offset, day (YYYY-MM-DD), must_exist (1: the camera was counted before, so a missing key was lost: refuse,
# -1, and let the caller rebuild it from PostgreSQL), then field/increment pairs. Applied only past the stored
# offset; a newer day resets the counters; an older day's event (or one with no increments: a duplicate) only
# advances `off`.
_COUNT = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local off = tonumber(redis.call('HGET', KEYS[1], 'off') or '-1')
local o = tonumber(ARGV[1])
if o <= off then return 0 end
local day = redis.call('HGET', KEYS[1], 'day')
if #ARGV <= 3 or (day and ARGV[2] < day) then
  redis.call('HSET', KEYS[1], 'off', ARGV[1])
  return 0
end
if day ~= ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'day', ARGV[2])
end
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'off', ARGV[1])
return 1
"""

_PATTERNS = ("its:live:*", "its:status:*", "its:counts:*")
_DETECTION_FIELDS = ("class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")


def live_key(camera_id: str) -> str:
    return f"its:live:{camera_id}"


def status_key(camera_id: str) -> str:
    return f"its:status:{camera_id}"


def counts_key(camera_id: str) -> str:
    return f"its:counts:{camera_id}"


def _micros(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def live_document(e: DetectionsProduced) -> dict[str, Any]:
    return {
        "camera_id": e["camera_id"],
        "frame_seq": e["frame_seq"],
        "captured_at": e["captured_at"].isoformat(),
        "produced_at": e["produced_at"].isoformat(),
        "width": e["width"],
        "height": e["height"],
        "model": e["model"],
        "detections": e["detections"],
    }


def status_document(s: CameraStatusChanged | dict[str, Any]) -> dict[str, Any]:
    """The camera_status row as JSON-ready values (ISO times), columns in table order."""
    return {c: _iso(s[c]) for c in STATUS_COLUMNS}  # type: ignore[literal-required]


def _count_fields(e: VehicleCounted | dict[str, Any]) -> list[str | int]:
    return ["vehicles", 1, e["direction"], 1, f"line:{e['line_id']}:{e['direction']}", 1, f"class:{e['class_name']}", 1]


class LiveCache:
    def __init__(self, client: redis.Redis, channel: str = "its:events") -> None:
        self.client = client
        self.channel = channel
        self._newer = client.register_script(_SET_IF_NEWER)
        self._count = client.register_script(_COUNT)

    def update(
        self,
        frames: list[DetectionsProduced],
        statuses: Iterable[CameraStatusChanged] = (),
        vehicles: Iterable[tuple[VehicleCounted, int, int]] = (),
        duplicate_vehicles: Iterable[tuple[VehicleCounted, int, int]] = (),
        incidents: Iterable[IncidentDetected] = (),
        publish: bool = True,
        counted_before: Collection[str] = (),
    ) -> set[str]:
        """Apply one committed batch in one pipelined round trip and publish it to the events channel; return the
        cameras whose counters were lost (their key is missing though `counted_before` says PostgreSQL counted them
        before): rebuild those from PostgreSQL.

        `vehicles` are the events PostgreSQL found new (counted); `duplicate_vehicles` only advance the counters'
        offset. Published: the latest frame per camera of the batch (a live view, not every frame), the newest status
        per camera, every new vehicle event and every incident applied.
        """
        latest: dict[str, DetectionsProduced] = {}
        for e in frames:
            cur = latest.get(e["camera_id"])
            if cur is None or e["captured_at"] >= cur["captured_at"]:
                latest[e["camera_id"]] = e
        pipe = self.client.pipeline(transaction=False)
        messages: list[dict[str, Any]] = []
        for cam, e in latest.items():
            doc = live_document(e)
            self._newer(keys=[live_key(cam)], args=[_micros(e["captured_at"]), json.dumps(doc)], client=pipe)
            messages.append({"type": "detections", "camera_id": cam, "data": doc})
        for s in newest_statuses(list(statuses)):
            doc = status_document(s)
            self._newer(
                keys=[status_key(s["camera_id"])], args=[_micros(s["changed_at"]), json.dumps(doc)], client=pipe
            )
            messages.append({"type": "status", "camera_id": s["camera_id"], "data": doc})
        applied = [(e, o, True) for e, _, o in vehicles] + [(e, o, False) for e, _, o in duplicate_vehicles]
        counted = set(counted_before)
        at: list[tuple[int, str]] = []  # (index in the pipeline's replies, camera) of each counter update
        for v, o, new in sorted(applied, key=lambda t: t[1]):
            day = v["crossed_at"].astimezone(UTC).date().isoformat()
            cam = v["camera_id"]
            at.append((len(pipe), cam))
            must = "1" if cam in counted else "0"
            self._count(keys=[counts_key(cam)], args=[o, day, must, *(_count_fields(v) if new else [])], client=pipe)
            counted.add(cam)  # its key exists from the first update on
            if new:
                row = {n: _iso(v[n]) for n, _ in VEHICLE_COLUMNS}  # type: ignore[literal-required]
                messages.append({"type": "count", "camera_id": v["camera_id"], "data": row})
        for i in incidents:
            row = {c: _iso(i[c]) for c in INCIDENT_COLUMNS}  # type: ignore[literal-required]
            messages.append({"type": "incident", "camera_id": i["camera_id"], "data": row})
        if publish:
            for msg in messages:
                pipe.publish(self.channel, json.dumps(msg))
        replies = pipe.execute()
        return {cam for i, cam in at if replies[i] == -1}


def missing_keys(conn: psycopg.Connection[Any], client: redis.Redis) -> set[str]:
    """Cameras with a key missing from Redis that PostgreSQL's read models say exists (counts of a counted camera,
    status of a camera with one, the latest frame of a camera with frames): lost keys, to rebuild."""
    rows = conn.execute(
        "SELECT camera_id, counts_offset IS NOT NULL,"
        " EXISTS (SELECT 1 FROM camera_status s WHERE s.camera_id = c.camera_id), last_model IS NOT NULL"
        " FROM cameras c"
    ).fetchall()
    conn.commit()
    wanted = [(cam, key) for cam, has_counts, has_status, has_live in rows
              for key, want in ((counts_key(cam), has_counts), (status_key(cam), has_status), (live_key(cam), has_live))
              if want]  # fmt: skip
    pipe = client.pipeline(transaction=False)
    for _cam, key in wanted:
        pipe.exists(key)
    return {cam for (cam, _key), n in zip(wanted, pipe.execute(), strict=True) if not n}


def _delete_keys(client: redis.Redis, camera_ids: Collection[str] | None) -> None:
    if camera_ids is not None:
        keys = [f(c) for c in camera_ids for f in (live_key, status_key, counts_key)]
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])
        return
    for pattern in _PATTERNS:
        batch: list[Any] = []
        for k in client.scan_iter(match=pattern, count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)


def rebuild_redis_from_pg(
    conn: psycopg.Connection[Any], client: redis.Redis, camera_ids: Collection[str] | None = None
) -> int:
    """Delete the live/status/counts keys (all of them, or those of `camera_ids`) and rewrite them from the read
    models of the connection's schema. Returns the number of keys written.

    live: each camera's latest frame and its detections (model from cameras.last_model); status: camera_status;
    counts: the camera's vehicle_counts_minute of the UTC day of its newest counted vehicle (the day the counters
    are on), `off` = cameras.counts_offset.
    """
    only = list(camera_ids) if camera_ids is not None else None
    flt, args = ("AND f.camera_id = ANY(%s)", [only]) if only is not None else ("", [])
    with conn.cursor(binary=True) as cur:  # binary: real (float4) values come back exactly as the events had them
        latest = (
            "(SELECT DISTINCT ON (camera_id) camera_id, captured_at, frame_seq, produced_at, width, height FROM frames"
            " ORDER BY camera_id, captured_at DESC, frame_seq DESC)"
        )
        cur.execute(
            "SELECT f.camera_id, f.frame_seq, f.captured_at, f.produced_at, f.width, f.height, c.last_model"
            f" FROM {latest} f JOIN cameras c USING (camera_id) WHERE true {flt}",
            args,
        )
        live = cur.fetchall()
        cur.execute(
            "SELECT f.camera_id, d.class_id, d.class_name, d.confidence, d.x1, d.y1, d.x2, d.y2"
            f" FROM {latest} f JOIN detections d USING (camera_id, captured_at, frame_seq) WHERE true {flt}"
            " ORDER BY f.camera_id, d.idx",
            args,
        )
        dets: dict[str, list[dict[str, Any]]] = {}
        for cam, *vals in cur.fetchall():
            dets.setdefault(cam, []).append(dict(zip(_DETECTION_FIELDS, vals, strict=True)))
        cur.execute(f"SELECT {', '.join(STATUS_COLUMNS)} FROM camera_status f WHERE true {flt}", args)
        statuses = cur.fetchall()
        cur.execute(
            "WITH d AS (SELECT camera_id, max(minute) AS m FROM vehicle_counts_minute GROUP BY camera_id)"
            " SELECT v.camera_id, to_char(d.m AT TIME ZONE 'UTC', 'YYYY-MM-DD'), v.line_id, v.class_name, v.direction,"
            " sum(v.vehicles)::bigint, c.counts_offset"
            " FROM vehicle_counts_minute v JOIN d ON d.camera_id = v.camera_id"
            " AND v.minute >= date_trunc('day', d.m AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
            " AND v.minute < (date_trunc('day', d.m AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'"
            " JOIN cameras c ON c.camera_id = v.camera_id"
            f" WHERE true {flt.replace('f.', 'v.')} GROUP BY 1, 2, 3, 4, 5, 7",
            args,
        )
        counts = cur.fetchall()
    conn.commit()
    _delete_keys(client, only)
    pipe = client.pipeline(transaction=False)
    for cam, seq, cap, prod, w, h, model in live:
        doc = {
            "camera_id": cam,
            "frame_seq": seq,
            "captured_at": cap.isoformat(),
            "produced_at": prod.isoformat(),
            "width": w,
            "height": h,
            "model": model,
            "detections": dets.get(cam, []),
        }
        pipe.hset(live_key(cam), mapping={"ts": _micros(cap), "json": json.dumps(doc)})
    for row in statuses:
        doc = status_document(dict(zip(STATUS_COLUMNS, row, strict=True)))
        pipe.hset(status_key(row[0]), mapping={"ts": _micros(row[5]), "json": json.dumps(doc)})
    hashes: dict[str, dict[str, str | int]] = {}
    for cam, day, line, cls, direction, n, off in counts:
        h_ = hashes.setdefault(cam, {"day": day, "off": off if off is not None else -1})
        for f in ("vehicles", direction, f"line:{line}:{direction}", f"class:{cls}"):
            h_[f] = int(h_.get(f, 0)) + int(n)
    for cam, mapping in hashes.items():
        pipe.hset(counts_key(cam), mapping=mapping)  # type: ignore[arg-type]
    pipe.execute()
    return len(live) + len(statuses) + len(hashes)


class CacheRepair:
    """Cameras whose Redis update failed after their batch was committed to PostgreSQL, and their repair: on the
    next successful Redis contact their keys are rebuilt from PostgreSQL (rebuild_redis_from_pg), so a counter is
    never silently short. Kept in memory; retried at most every `retry_s`."""

    def __init__(self, retry_s: float = 1.0) -> None:
        self.dirty: set[str] = set()
        self.retry_s = retry_s
        self._last_try = 0.0

    def mark(
        self,
        frames: Iterable[DetectionsProduced] = (),
        statuses: Iterable[CameraStatusChanged] = (),
        vehicles: Iterable[VehicleCounted] = (),
        cameras: Iterable[str] = (),
    ) -> set[str]:
        """Mark the cameras of a batch whose Redis update failed (`cameras`: others, e.g. purged ones, whose keys
        the rebuild then deletes as PostgreSQL no longer has them)."""
        cams = {e["camera_id"] for e in frames} | {s["camera_id"] for s in statuses}
        cams |= {v["camera_id"] for v in vehicles} | set(cameras)
        self.dirty |= cams
        return cams

    def due(self) -> bool:
        return bool(self.dirty) and time.monotonic() - self._last_try >= self.retry_s

    def repair(self, conn: psycopg.Connection[Any], client: redis.Redis) -> int:
        """Rebuild the dirty cameras' keys from PostgreSQL; returns how many were repaired. Raises what Redis or
        PostgreSQL raise (the cameras stay dirty)."""
        self._last_try = time.monotonic()
        cams = sorted(self.dirty)
        rebuild_redis_from_pg(conn, client, cams)
        self.dirty.difference_update(cams)
        return len(cams)
