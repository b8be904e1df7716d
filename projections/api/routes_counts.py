"""Per-camera history from PostgreSQL: vehicle counts in time buckets, vehicle events, statistics windows and
frame detections."""

from __future__ import annotations

import asyncio
import hashlib
import random
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api import metrics as m
from projections.api.deps import Deps, deps
from projections.api.encode import dumps, json_response, jsonable
from projections.api.export import export_response
from projections.api.gate import rate_limited, take_token
from projections.api.params import (
    camera_id,
    decode_cursor,
    encode_cursor,
    parse_enum,
    parse_int,
    parse_text,
    time_range,
)
from projections.api.routes_cameras import not_found

__all__ = ["DIRECTIONS", "counts", "detection_counts", "detections", "stats", "vehicle_events"]

DIRECTIONS = ("IN", "OUT")


def _event_filters(request: Request) -> dict[str, str | None]:
    return {
        "line_id": parse_text(request, "line_id"),
        "class_name": parse_text(request, "class"),
        "direction": parse_enum(request, "direction", DIRECTIONS, None),
    }


async def cached(d: Deps, key: str) -> bytes | None:
    raw = await d.query_cache.get(key)  # a cache that fails to answer is a miss
    m.QUERY_CACHE.labels("hit" if raw is not None else "miss").inc()
    return raw


async def counts(request: Request) -> Response:
    """Counts in buckets; the answer is cached in Redis, keyed by the normalised query, for `query_cache_s`
    (`query_cache_closed_s` once the range lies over 2 minutes in the past)."""
    d = deps(request)
    cam = camera_id(request)
    bucket = parse_enum(request, "bucket", list(queries.BUCKETS), "1h") or "1h"
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    filters = _event_filters(request)
    if (exported := await export_response(request, "counts", cam, start, end, bucket, filters)) is not None:
        return exported
    norm = "|".join([cam, bucket, start.isoformat(), end.isoformat(), *(f"{k}={v}" for k, v in filters.items())])
    key = "its:qc:counts:" + hashlib.sha1(norm.encode(), usedforsecurity=False).hexdigest()
    principal = take_token(request.scope)
    if principal is not None and not d.query_cache.separate:  # the token and the cache lookup in one Redis script
        allowed, retry_after, hit = await d.limiter.hit_get(principal.key_id, principal.rate_per_minute, key)
        if not allowed:
            raise rate_limited(principal.key_id, principal.rate_per_minute, retry_after)
        m.QUERY_CACHE.labels("hit" if hit is not None else "miss").inc()
    else:
        if principal is not None:  # the cache is an instance of its own: the token from the state instance first
            allowed, retry_after = await d.limiter.hit(principal.key_id, principal.rate_per_minute)
            if not allowed:
                raise rate_limited(principal.key_id, principal.rate_per_minute, retry_after)
        hit = await cached(d, key)
    if d.settings.query_cache_s > 0 and hit is not None:
        return Response(hit, media_type="application/json")
    # Single flight: concurrent misses of one query in this worker share one PostgreSQL query.
    flight = d.in_flight.get(key)
    if flight is None:
        flight = d.in_flight[key] = asyncio.ensure_future(_compute_counts(d, key, cam, bucket, start, end, filters))
        flight.add_done_callback(lambda _: d.in_flight.pop(key, None))
    body = await asyncio.shield(flight)
    return Response(body, media_type="application/json")


async def _compute_counts(
    d: Deps, key: str, cam: str, bucket: str, start: datetime, end: datetime, filters: dict[str, str | None]
) -> bytes:
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
        doc = await queries.counts(conn, cam, start, end, bucket, filters)
    body = dumps(doc)
    if d.settings.query_cache_s > 0:
        closed = end < datetime.now(UTC) - timedelta(minutes=2)
        ttl = d.settings.query_cache_closed_s if closed else d.settings.query_cache_s
        # +-20% jitter, so the answers cached together do not all expire together
        if not await d.query_cache.set(key, body, px=max(1, int(ttl * 1000 * random.uniform(0.8, 1.2)))):
            m.QUERY_CACHE.labels("not_stored").inc()  # the cache full or down: served, not kept
    return body


async def detection_counts(request: Request) -> Response:
    """Frames and detections per class (what the model saw, not vehicles counted) in time buckets."""
    d = deps(request)
    cam = camera_id(request)
    bucket = parse_enum(request, "bucket", list(queries.BUCKETS), "1h") or "1h"
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
        doc = await queries.detection_counts(conn, cam, start, end, bucket)
    return json_response(doc)


async def vehicle_events(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    filters = _event_filters(request)
    if (exported := await export_response(request, "vehicle-events", cam, start, end, "1h", filters)) is not None:
        return exported
    after = decode_cursor(request, [datetime, str])
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
        rows = await queries.vehicle_events(
            conn, cam, start, end, filters, limit + 1, (after[0], after[1]) if after else None
        )
    nxt = encode_cursor([rows[limit - 1]["crossed_at"], rows[limit - 1]["event_id"]]) if len(rows) > limit else None
    return json_response({"items": [jsonable(r) for r in rows[:limit]], "next_cursor": nxt})


async def stats(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    if (exported := await export_response(request, "stats", cam, start, end, "1h", {})) is not None:
        return exported
    after = decode_cursor(request, [datetime])
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
        rows = await queries.stats(conn, cam, start, end, limit + 1, after[0] if after else None)
    nxt = encode_cursor([rows[limit - 1]["window_start"]]) if len(rows) > limit else None
    return json_response(
        {
            "camera_id": cam,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "items": [jsonable(r) for r in rows[:limit]],
            "next_cursor": nxt,
        }
    )


async def detections(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    seq = parse_int(request, "frame_seq", None, 0, 2**62)
    limit = parse_int(request, "limit", 10, 1, 500) or 10
    async with d.pool.connection() as conn:
        items = await queries.frame_detections(conn, cam, seq, limit)
        if not items and not await queries.camera_known(conn, cam):
            raise not_found(cam)
    return json_response({"items": items})
