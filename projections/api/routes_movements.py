"""GET /v1/cameras/{camera_id}/movements (turning movements per bucket) and /snapshot.jpg (the camera's still)."""

from __future__ import annotations

from datetime import timedelta

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


async def snapshot(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    jpeg, captured_at, seq, width, height = await d.redis.hmget(snapshot_key(cam), list(read_fields))
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
