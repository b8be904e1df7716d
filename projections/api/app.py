"""The query API (Starlette): health, readiness, docs, the /v1 routes over PostgreSQL and Redis, camera commands
to Kafka, behind the gate (keys, scopes, rate limits, audit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from eventbus.config import check_kafka
from projections.api import (
    commands,
    page,
    routes_cameras,
    routes_counts,
    routes_fleet,
    routes_live,
    routes_movements,
    stream,
)
from projections.api.audit import AuditWriter
from projections.api.auth import KeyCache
from projections.api.deps import Deps, deps
from projections.api.docs import docs_html
from projections.api.encode import dumps, json_response
from projections.api.gate import Gate
from projections.api.openapi import openapi
from projections.api.problems import UNAVAILABLE, problem_handler, problem_response, unavailable_handler
from projections.api.producer import CommandProducer
from projections.api.ratelimit import RateLimiter
from projections.api.scripts import ScriptRunner
from projections.api.settings import ApiSettings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    d = deps(request)
    s = d.settings

    async def pg() -> None:
        async with d.pool.connection(timeout=s.ready_timeout_s) as conn:
            await conn.execute("SELECT 1")

    async def rd() -> None:
        await d.redis.ping()

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
    return json_response({"status": "ready", "checks": status})


def create_app(settings: ApiSettings | None = None) -> Starlette:
    s = settings or ApiSettings()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        s.pg_dsn.get_secret_value(),
        min_size=1,
        max_size=s.pool_size,
        open=False,
        timeout=s.pool_timeout_s,
        kwargs={"options": "-c TimeZone=UTC"},
    )
    # Two redis-py clients from the one URL (any form redis-py takes: redis://, rediss://, unix://, user and
    # password, db): requests' reads, writes and scripts with a timeout, and pub/sub without one (a stream waits on it
    # for minutes).
    redis_url = s.redis_url.get_secret_value()
    cache = aioredis.Redis.from_url(
        redis_url, socket_timeout=s.ready_timeout_s, socket_connect_timeout=s.ready_timeout_s
    )
    pubsub_redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=s.ready_timeout_s)
    d = Deps(
        settings=s,
        pool=pool,
        redis=cache,
        pubsub_redis=pubsub_redis,
        keys=KeyCache(pool, s.key_cache_s),
        limiter=RateLimiter(ScriptRunner(cache)),
        audit=AuditWriter(pool, s.audit_flush_s, s.audit_batch, s.audit_max_pending),
        commands=CommandProducer(s.kafka_bootstrap, s.command_timeout_s),
    )
    spec = openapi(s)
    spec_body = dumps(spec)
    docs_body = docs_html(spec)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=False)
        d.audit.start()
        try:
            yield
        finally:
            try:
                await d.audit.stop()
            except UNAVAILABLE as e:
                log.error("audit rows lost at shutdown: PostgreSQL unavailable", extra={"error": str(e)})
            await run_in_threadpool(d.commands.close)
            await pool.close()
            await d.limiter.scripts.aclose()
            await cache.aclose()
            await pubsub_redis.aclose()

    async def openapi_json(request: Request) -> Response:
        return Response(spec_body, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_body)

    routes: list[BaseRoute] = [
        # the two hot routes first: the router tries routes in order
        Route("/v1/cameras/{camera_id}/live", routes_live.live),
        Route("/v1/cameras/{camera_id}/counts", routes_counts.counts),
        Route("/health", health),
        Route("/ready", ready),
        Route("/openapi.json", openapi_json),
        Route("/docs", docs),
        Route("/v1/cameras", routes_cameras.list_cameras, methods=["GET"]),
        Route("/v1/cameras", commands.create_camera, methods=["POST"]),
        Route("/v1/cameras/{camera_id}", routes_cameras.get_camera, methods=["GET"]),
        Route("/v1/cameras/{camera_id}", commands.put_camera, methods=["PUT"]),
        Route("/v1/cameras/{camera_id}", commands.patch_camera, methods=["PATCH"]),
        Route("/v1/cameras/{camera_id}", commands.delete_camera, methods=["DELETE"]),
        Route("/v1/cameras/{camera_id}/vehicle-events", routes_counts.vehicle_events),
        Route("/v1/cameras/{camera_id}/detection-counts", routes_counts.detection_counts),
        Route("/v1/cameras/{camera_id}/detections", routes_counts.detections),
        Route("/v1/cameras/{camera_id}/stats", routes_counts.stats),
        Route("/v1/cameras/{camera_id}/movements", routes_movements.movements),
        Route("/v1/cameras/{camera_id}/snapshot.jpg", routes_movements.snapshot),
        Route("/v1/incidents", routes_fleet.list_incidents),
        Route("/v1/incidents/{incident_id}", routes_fleet.get_incident),
        Route("/v1/fleet", routes_fleet.fleet),
        Route("/v1/stream", stream.stream),
        Route("/v1/audit", routes_fleet.audit),
        *page.routes(),
    ]
    templates = {r.endpoint: r.path for r in routes if isinstance(r, Route)}
    handlers: dict[Any, Any] = {HTTPException: problem_handler, Exception: problem_handler}
    handlers.update(dict.fromkeys(UNAVAILABLE, unavailable_handler))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=handlers,
        middleware=[Middleware(Gate, deps=d, templates=templates)],
    )
    app.state.settings = s
    app.state.openapi = spec
    app.state.deps = d
    return app
