"""GET /v1/cameras and /v1/cameras/{camera_id}: the camera registry as projected into PostgreSQL."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api.deps import deps
from projections.api.encode import json_response
from projections.api.params import camera_id, decode_cursor, encode_cursor, parse_int
from projections.api.problems import Problem

__all__ = ["get_camera", "list_cameras", "not_found"]


def not_found(cam: str) -> Problem:
    return Problem(404, f"No camera {cam!r} is configured or has been seen. List cameras at /v1/cameras.")


async def list_cameras(request: Request) -> Response:
    d = deps(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    after = decode_cursor(request, [str])
    async with d.pool.connection() as conn:
        items = await queries.cameras(conn, limit + 1, after[0] if after else None)
    nxt = encode_cursor([items[limit - 1]["camera_id"]]) if len(items) > limit else None
    return json_response({"items": items[:limit], "next_cursor": nxt})


async def get_camera(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    async with d.pool.connection() as conn:
        doc = await queries.camera(conn, cam)
    if doc is None:
        raise not_found(cam)
    return json_response(doc)
