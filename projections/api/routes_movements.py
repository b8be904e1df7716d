"""GET /v1/cameras/{camera_id}/movements (turning movements per bucket) and /snapshot.jpg (the camera's still)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api.deps import deps
from projections.api.encode import json_response
from projections.api.export import export_response
from projections.api.params import camera_id, parse_enum, parse_text, time_range
from projections.api.problems import Problem
from projections.api.routes_cameras import not_found
from projections.queries_movements import movements as query_movements
from projections.snapshots import read_fields, snapshot_key

__all__ = ["movements", "snapshot"]


async def movements(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    bucket = parse_enum(request, "bucket", list(queries.BUCKETS), "1h") or "1h"
    start, end = time_range(request, d.settings.max_range_days, timedelta(days=1))
    class_name = parse_text(request, "class")
    exported = await export_response(request, "movements", cam, start, end, bucket, {"class_name": class_name})
    if exported is not None:
        return exported
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
        doc = await query_movements(conn, cam, start, end, bucket, class_name)
    return json_response(doc)


def _text(v: bytes | str | None) -> str:
    return v.decode() if isinstance(v, bytes) else (v or "")


async def _blurs(d: Any, cam: str) -> bool:
    """The camera's blur_persons (true unless its configuration says false)."""
    async with d.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT COALESCE((config->>'blur_persons')::boolean, true) FROM cameras WHERE camera_id = %s", (cam,)
        )
        row = await cur.fetchone()
    return True if row is None else bool(row[0])


async def snapshot(request: Request) -> Response:
    """The camera's latest still. Persons on it are blurred (projections/snapshots.py) unless the camera's
    blur_persons is false; a still not blurred is served only while the camera's configuration says false."""
    d = deps(request)
    cam = camera_id(request)
    jpeg, captured_at, seq, width, height, blurred = await d.redis.hmget(snapshot_key(cam), list(read_fields))
    if jpeg is not None and _text(blurred) != "1" and await _blurs(d, cam):
        # Kept as captured while the camera did not blur; it blurs now: never serve it (the next still is blurred).
        raise Problem(
            404,
            f"Camera {cam!r} blurs persons on its stills and the still kept was taken before that; the next still "
            "(a few seconds) is served blurred. Retry shortly.",
        )
    if jpeg is None:
        async with d.pool.connection() as conn:
            known = await queries.camera_known(conn, cam)
        if not known:
            raise not_found(cam)
        raise Problem(
            404,
            f"Camera {cam!r} has sent no frame lately, so no picture is kept (stills live a few minutes in Redis). "
            "Start the camera (or stream a clip into it) and retry.",
        )
    headers = {
        "Cache-Control": "no-store",
        "X-Captured-At": _text(captured_at),
        "X-Frame-Seq": _text(seq),
        "X-Frame-Width": _text(width),
        "X-Frame-Height": _text(height),
        "X-Content-Type-Options": "nosniff",
    }
    return Response(jpeg, media_type="image/jpeg", headers=headers)
