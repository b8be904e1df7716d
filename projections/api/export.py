"""CSV and Parquet answers of the history routes (counts, movements, stats, vehicle events), streamed.

A route parses its query as for JSON, then asks `export_response`: None means JSON is wanted (no `format`, or
`format=json`, and no Accept naming an export type); otherwise the answer is a StreamingResponse whose rows come
from a server-side cursor (projections.exports) and leave as they are encoded, so memory stays flat however long
the range. The columns and the SQL are projections.exports', shared with `itscam export`.

A download holds one pool connection until its last byte, so downloads are counted (Deps.exports): at most
`export_max_per_key` per key and `export_max_per_worker` per worker at once (429 with Retry-After beyond), which
leaves the rest of the pool to the other routes. Each FETCH is bounded by statement_timeout, and a client that
stops reading loses the connection after idle_in_transaction_timeout_ms.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from projections import exports, queries
from projections.api.deps import Deps, deps
from projections.api.gate import rate_limited, take_token
from projections.api.limits import SlotResponse
from projections.api.params import parse_enum
from projections.api.routes_cameras import not_found

__all__ = ["FORMAT_CHOICES", "export_response", "wanted_format"]

#: the `format` query parameter's values; json is the default
FORMAT_CHOICES = ("json", *exports.FORMATS)
_ACCEPTED = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
}


def wanted_format(request: Request) -> str:
    """`?format=` (a 400 naming it when unknown), else the first media type of Accept that is json, csv or
    parquet (q=0 excluded), else json."""
    fmt = parse_enum(request, "format", FORMAT_CHOICES, None)
    if fmt is not None:
        return fmt
    for item in request.headers.get("accept", "").split(","):
        media, *params = (p.strip() for p in item.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media.lower() in _ACCEPTED:
            return _ACCEPTED[media.lower()]
    return "json"


async def export_response(
    request: Request,
    what: str,
    cam: str,
    start: datetime,
    end: datetime,
    bucket: str,
    filters: Mapping[str, str | None],
) -> Response | None:
    """The CSV or Parquet answer of `what` (counts, movements, stats, vehicle-events) when the request asks for one,
    else None (answer JSON). `filters` are the JSON route's (line_id, class_name, direction; None = any); `bucket`
    matters to counts and movements only. Raises the 400 for an unknown format and the 404 for an unknown camera
    before anything is sent."""
    fmt = wanted_format(request)
    if fmt == "json":
        return None
    d = deps(request)
    principal = take_token(request.scope)  # a fused route (counts): take its rate-limit token before streaming
    if principal is not None:
        allowed, retry_after = await d.limiter.hit(principal.key_id, principal.rate_per_minute)
        if not allowed:
            raise rate_limited(principal.key_id, principal.rate_per_minute, retry_after)
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
    query = exports.build_query(what, cam, start, end, bucket, filters)
    name = exports.filename(cam, what, start, end, fmt)
    key_id = request.scope["state"]["principal"].key_id
    refused = d.exports.take(key_id)
    if refused is not None:
        raise d.exports.refusal(refused)

    async def release() -> None:
        d.exports.give_back(key_id)

    return SlotResponse(
        _body(d, what, fmt, query),
        release,
        media_type=exports.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def _body(d: Deps, what: str, fmt: str, query: exports.Query) -> AsyncIterator[bytes]:
    """The file's bytes as they are produced. The pool connection is held while the client reads; a client that
    goes away cancels this generator, which closes the cursor and gives the connection back. Parquet's encoding
    runs in a worker thread (pyarrow releases the GIL while it compresses); CSV's is a few ms a batch."""
    enc = exports.encoder(what, fmt)
    threaded = fmt == "parquet"
    head = enc.start()
    if head:
        yield head
    # aclosing: the cursor is closed before the connection goes back to the pool, never later on another request's
    async with d.pool.connection() as conn, contextlib.aclosing(exports.afetch(conn, query)) as batches:
        async for rows in batches:
            chunk = await run_in_threadpool(enc.rows, rows) if threaded else enc.rows(rows)
            if chunk:
                yield chunk
    tail = await run_in_threadpool(enc.finish) if threaded else enc.finish()
    if tail:
        yield tail
