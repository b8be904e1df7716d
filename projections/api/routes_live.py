"""GET /v1/cameras/{camera_id}/live: the latest frame, status and today's counters, from Redis (PostgreSQL only
when Redis holds nothing of the camera, to tell an unknown camera's 404).

One Redis round trip per request: the rate-limit script also reads the three hashes. Their JSON values are
spliced into the answer as they are, so the hot path parses nothing but the counters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api.deps import deps
from projections.api.encode import dumps
from projections.api.gate import rate_limited, take_token
from projections.api.params import camera_id
from projections.api.routes_cameras import not_found

__all__ = ["counts_today", "live"]


def counts_today(raw: dict[bytes, bytes], today: str) -> dict[str, Any]:
    """The `its:counts:{camera}` hash as the API shows it; counters of an earlier day read as zero today."""
    doc: dict[str, Any] = {"day": today, "vehicles": 0, "IN": 0, "OUT": 0, "by_line": {}, "by_class": {}}
    if raw.get(b"day", b"").decode() != today:
        return doc
    by_line: dict[str, dict[str, int]] = {}
    by_class: dict[str, int] = {}
    for k, v in raw.items():
        key = k.decode()
        if key in ("vehicles", "IN", "OUT"):
            doc[key] = int(v)
        elif key.startswith("line:"):
            line, _, direction = key[5:].rpartition(":")
            if direction in ("IN", "OUT"):
                by_line.setdefault(line, {"IN": 0, "OUT": 0})[direction] = int(v)
        elif key.startswith("class:"):
            by_class[key[6:]] = int(v)
    doc["by_line"] = dict(sorted(by_line.items()))
    doc["by_class"] = dict(sorted(by_class.items()))
    return doc


async def live(request: Request) -> Response:
    d = deps(request)
    cam = camera_id(request)
    principal = take_token(request.scope)
    if principal is not None:  # the rate-limit token and the three hashes in one Redis script
        allowed, retry_after, frame, status, counters = await d.limiter.hit_live(
            principal.key_id, principal.rate_per_minute, cam
        )
        if not allowed:
            raise rate_limited(principal.key_id, principal.rate_per_minute, retry_after)
    else:
        pipe = d.redis.pipeline(transaction=False)
        pipe.hget(f"its:live:{cam}", "json")
        pipe.hget(f"its:status:{cam}", "json")
        pipe.hgetall(f"its:counts:{cam}")
        frame, status, counters = await pipe.execute()
    if frame is None and status is None and not counters:
        async with d.pool.connection() as conn:
            if not await queries.camera_known(conn, cam):
                raise not_found(cam)
    today = datetime.now(UTC).date().isoformat()
    body = b"".join(
        (
            b'{"camera_id":',
            dumps(cam),
            b',"frame":',
            frame or b"null",
            b',"status":',
            status or b"null",
            b',"counts_today":',
            dumps(counts_today(counters, today)),
            b"}",
        )
    )
    return Response(body, media_type="application/json")
