"""GET /v1/cameras and /v1/cameras/{camera_id}: the camera registry as projected into PostgreSQL.

A configured camera's answer carries an ETag derived from its configuration's `updated_at` (every command sets
it), and PUT/PATCH honour `If-Match` with it (`check_if_match`): a stale tag is a 412, so two editors do not
overwrite each other. Commands are applied asynchronously (Kafka, then the projector): the ETag changes once the
projector has applied the accepted change. Without If-Match a PUT/PATCH is accepted (last writer wins) unless
ITS_API_REQUIRE_IF_MATCH is set (428).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api import versions
from projections.api.deps import deps
from projections.api.encode import json_response
from projections.api.params import camera_id, decode_cursor, encode_cursor, parse_int
from projections.api.problems import Problem

__all__ = ["check_if_match", "etag_of", "get_camera", "list_cameras", "not_found"]


def not_found(cam: str) -> Problem:
    return Problem(404, f"No camera {cam!r} is configured or has been seen. List cameras at /v1/cameras.")


def etag_of(cam: str, updated_at: datetime | str) -> str:
    """The strong ETag of camera `cam`'s configuration as of `updated_at` (a datetime or its ISO form)."""
    at = datetime.fromisoformat(updated_at) if isinstance(updated_at, str) else updated_at
    micros = (at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // _MICRO
    return '"' + hashlib.sha256(f"{cam}\x00{micros}".encode()).hexdigest()[:24] + '"'


_MICRO = datetime.resolution


async def check_if_match(request: Request, cam: str, updated_at: datetime) -> str:
    """The precondition of PUT/PATCH, checked and claimed in one step (projections/api/versions.py): 412 when
    If-Match names none of the camera's current tags (the last accepted command's, else the read model's; `*`: any
    configuration), 428 when it is missing and ITS_API_REQUIRE_IF_MATCH is set. Returns the new tag claimed for the
    command (configuration `updated_at`); `versions.release` it if the command is not sent."""
    d = deps(request)
    header = request.headers.get("if-match")
    if header is None and d.settings.require_if_match:
        raise Problem(
            428,
            f"Send If-Match with the ETag of GET /v1/cameras/{cam}, so a concurrent edit is not overwritten.",
        )
    async with d.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT config_updated_at FROM cameras WHERE camera_id = %s AND deleted_at IS NULL"
            " AND config IS NOT NULL AND config_updated_at IS NOT NULL",
            (cam,),
        )
        row = await cur.fetchone()
    stored = etag_of(cam, row[0]) if row else None
    tags = None if header is None else {t.strip() for t in header.split(",") if t.strip()}
    new_tag = etag_of(cam, updated_at)
    current = await versions.claim(d, cam, new_tag, stored, tags)
    if current is None:
        return new_tag
    raise Problem(
        412,
        f"Camera {cam!r} changed since the ETag sent in If-Match (or has no configuration); GET it again, reapply "
        "the edit and send the new ETag.",
        current_etag=current or None,
    )


async def list_cameras(request: Request) -> Response:
    d = deps(request)
    limit = parse_int(request, "limit", 100, 1, d.settings.max_page) or 100
    after = decode_cursor(request, [str])
    async with d.pool.connection() as conn:
        items = await queries.cameras(conn, limit + 1, after[0] if after else None, d.settings.degraded_lag_s)
    nxt = encode_cursor([items[limit - 1]["camera_id"]]) if len(items) > limit else None
    return json_response({"items": items[:limit], "next_cursor": nxt})


async def get_camera(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    async with d.pool.connection() as conn:
        doc = await queries.camera(conn, cam, d.settings.degraded_lag_s)
    if doc is None:
        raise not_found(cam)
    at = doc.get("config_updated_at") if doc.get("config") is not None else None
    return json_response(doc, headers={"ETag": etag_of(cam, at)} if at else None)
