"""Fleet-wide reads: incidents, the fleet summary and (admin) the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api import metrics as m
from projections.api.deps import deps
from projections.api.encode import dumps, json_response, jsonable
from projections.api.params import (
    decode_cursor,
    encode_cursor,
    parse_enum,
    parse_int,
    parse_text,
    time_range,
)
from projections.api.problems import Problem
from projections.api.routes_counts import cached

__all__ = ["INCIDENT_STATES", "INCIDENT_TYPES", "audit", "fleet", "get_incident", "list_incidents"]

INCIDENT_TYPES = ("STOPPED_VEHICLE", "WRONG_WAY", "CONGESTION", "CAMERA_OFFLINE")
INCIDENT_STATES = ("open", "closed")


async def list_incidents(request: Request) -> Response:
    d = deps(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=7))
    state = parse_enum(request, "state", INCIDENT_STATES, None)
    filters = {
        "camera_id": parse_text(request, "camera_id"),
        "type": parse_enum(request, "type", INCIDENT_TYPES, None),
        "state": state.upper() if state else None,
    }
    after = decode_cursor(request, [datetime, str])
    async with d.pool.connection() as conn:
        rows = await queries.incidents(conn, filters, start, end, limit + 1, (after[0], after[1]) if after else None)
    nxt = encode_cursor([rows[limit - 1]["started_at"], rows[limit - 1]["incident_id"]]) if len(rows) > limit else None
    return json_response({"items": [jsonable(r) for r in rows[:limit]], "next_cursor": nxt})


async def get_incident(request: Request) -> Response:
    d = deps(request)
    iid: str = request.path_params["incident_id"]
    row = None
    if len(iid) <= 256 and "\x00" not in iid:
        async with d.pool.connection() as conn:
            row = await queries.incident(conn, iid)
    if row is None:
        raise Problem(404, f"No incident {iid!r}. List incidents at /v1/incidents.")
    return json_response(jsonable(row))


async def fleet(request: Request) -> Response:
    d = deps(request)
    key = "its:qc:fleet"
    if d.settings.query_cache_s > 0 and (hit := await cached(d, key)) is not None:
        return Response(hit, media_type="application/json")
    async with d.pool.connection() as conn:
        doc = await queries.fleet(conn, datetime.now(UTC))
    body = dumps(doc)
    px = int(d.settings.query_cache_s * 1000)
    if d.settings.query_cache_s > 0 and not await d.query_cache.set(key, body, px=px):
        m.QUERY_CACHE.labels("not_stored").inc()  # the cache full or down: served, not kept
    return Response(body, media_type="application/json")


async def audit(request: Request) -> Response:
    d = deps(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    key_id = parse_text(request, "key_id")
    after = decode_cursor(request, [int])
    async with d.pool.connection() as conn:
        rows = await queries.audit(conn, key_id, start, end, limit + 1, after[0] if after else None)
    nxt = encode_cursor([rows[limit - 1]["id"]]) if len(rows) > limit else None
    return json_response({"items": [jsonable(r) for r in rows[:limit]], "next_cursor": nxt})
