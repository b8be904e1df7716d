"""The query API (Starlette): health, readiness and read-only /v1 routes over PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from projections import queries
from projections.api import metrics as m
from projections.api.problems import UNAVAILABLE, Problem, problem_handler, problem_response, unavailable_handler
from projections.api.settings import ApiSettings
from projections.cache import live_key
from schemas.kafka import check_kafka

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _parse_time(request: Request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Problem(
            400,
            f"Query parameter '{name}' must be an ISO 8601 time such as 2026-01-31T08:00:00Z; got {raw!r}.",
            invalid_params=[{"name": name, "reason": "not an ISO 8601 time"}],
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _parse_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        val = int(raw)
    except ValueError:
        val = lo - 1
    if not lo <= val <= hi:
        raise Problem(
            400,
            f"Query parameter '{name}' must be an integer from {lo} to {hi}; got {raw!r}.",
            invalid_params=[{"name": name, "reason": f"integer {lo}..{hi}"}],
        )
    return val


class _Observe(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        m.REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        m.LATENCY.labels(path).observe(time.perf_counter() - t0)
        return response


def create_app(settings: ApiSettings | None = None) -> Starlette:
    s = settings or ApiSettings()
    pool = AsyncConnectionPool(s.pg_dsn, min_size=1, max_size=s.pool_size, open=False, timeout=s.pool_timeout_s)
    cache = aioredis.Redis.from_url(
        s.redis_url, socket_timeout=s.ready_timeout_s, socket_connect_timeout=s.ready_timeout_s
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=False)
        try:
            yield
        finally:
            await pool.close()
            await cache.aclose()

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        async def pg() -> None:
            async with pool.connection(timeout=s.ready_timeout_s) as conn:
                await conn.execute("SELECT 1")

        async def rd() -> None:
            await cache.ping()

        async def kafka() -> None:
            await run_in_threadpool(check_kafka, s.kafka_bootstrap, s.ready_timeout_s)

        checks = {"postgresql": pg, "redis": rd, "kafka": kafka}
        results = await asyncio.gather(
            *(asyncio.wait_for(fn(), s.ready_timeout_s + 1) for fn in checks.values()), return_exceptions=True
        )
        status = {name: ("ok" if r is None else f"down: {r!r}") for name, r in zip(checks, results, strict=True)}
        down = [name for name, r in zip(checks, results, strict=True) if r is not None]
        if down:
            return problem_response(
                request,
                503,
                f"Not ready: {', '.join(down)} unreachable. Start the local stack with "
                "`itscam stack up` or check the ITS_PG_DSN / ITS_REDIS_URL / ITS_KAFKA_BOOTSTRAP settings.",
                checks=status,
            )
        return JSONResponse({"status": "ready", "checks": status})

    async def list_cameras(request: Request) -> Response:
        limit = _parse_int(request, "limit", 1000, 1, 10000)
        async with pool.connection() as conn:
            items = await queries.cameras(conn, limit or 1000)
        return JSONResponse({"items": items})

    async def get_camera(request: Request) -> Response:
        cam = request.path_params["camera_id"]
        async with pool.connection() as conn:
            doc = await queries.camera(conn, cam)
        if doc is None:
            raise Problem(404, f"Camera {cam!r} has no projected frames yet. List cameras at /v1/cameras.")
        return JSONResponse(doc)

    async def live(request: Request) -> Response:
        cam = request.path_params["camera_id"]
        raw = await cache.hget(live_key(cam), "json")
        if raw is None:
            raise Problem(
                404,
                f"No live detections for camera {cam!r}: it has sent no frame since the cache "
                "was (re)built. List cameras at /v1/cameras.",
            )
        return Response(raw, media_type="application/json")

    async def counts(request: Request) -> Response:
        cam = request.path_params["camera_id"]
        bucket = request.query_params.get("bucket", "1m")
        if bucket not in queries.BUCKETS:
            raise Problem(
                400,
                f"Query parameter 'bucket' must be one of {sorted(queries.BUCKETS)}; got {bucket!r}.",
                invalid_params=[{"name": "bucket", "reason": "unknown bucket"}],
            )
        end = _parse_time(request, "to", datetime.now(UTC) + timedelta(minutes=1))
        start = _parse_time(request, "from", end - timedelta(days=1))
        if start >= end:
            raise Problem(400, f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}).")
        if end - start > timedelta(days=s.max_range_days):
            raise Problem(400, f"The from..to range is longer than {s.max_range_days} days; ask for a shorter one.")
        async with pool.connection() as conn:
            doc = await queries.counts(conn, cam, start, end, bucket)
        return JSONResponse(doc)

    async def detections(request: Request) -> Response:
        cam = request.path_params["camera_id"]
        seq = _parse_int(request, "frame_seq", None, 0, 2**62)
        limit = _parse_int(request, "limit", 10, 1, 500)
        async with pool.connection() as conn:
            items = await queries.frame_detections(conn, cam, seq, limit or 10)
        return JSONResponse({"items": items})

    routes = [
        Route("/health", health),
        Route("/ready", ready),
        Route("/v1/cameras", list_cameras),
        Route("/v1/cameras/{camera_id}", get_camera),
        Route("/v1/cameras/{camera_id}/live", live),
        Route("/v1/cameras/{camera_id}/counts", counts),
        Route("/v1/cameras/{camera_id}/detections", detections),
    ]
    handlers: dict[Any, Any] = {HTTPException: problem_handler, Exception: problem_handler}
    handlers.update(dict.fromkeys(UNAVAILABLE, unavailable_handler))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers, middleware=[Middleware(_Observe)])
    app.state.settings = s
    return app
