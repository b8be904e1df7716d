"""The query API (Starlette): health, readiness, docs, the /v1 routes over PostgreSQL and Redis, camera commands
to Kafka, behind the gate (keys, scopes, rate limits, audit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

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
from projections.api.limits import BodyLimit, Slots, StreamLeases
from projections.api.openapi import openapi
from projections.api.problems import UNAVAILABLE, problem_handler, problem_response, unavailable_handler
from projections.api.producer import CommandProducer
from projections.api.ratelimit import RateLimiter
from projections.api.scripts import ScriptRunner
from projections.api.settings import ApiSettings
from projections.db import session_options
from projections.rediskit import QueryCache, async_client, check_async

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


#: what /ready needs for the API to serve reads; Kafka only carries the camera commands
READ_PATH = ("postgresql", "redis")


async def ready(request: Request) -> Response:
    """200 while the read path's dependencies (PostgreSQL, Redis) answer, Kafka down or not: only the camera
    commands need Kafka, and they answer 503 themselves then (`commands` says which). No exception text is shown:
    each check is "ok" or "down" (the reason goes to the log)."""
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
    status: dict[str, str] = {}
    for name, r in zip(checks, results, strict=True):
        status[name] = "ok" if r is None else "down"
        if r is not None:
            log.warning("readiness check failed", extra={"dependency": name, "error": type(r).__name__})
    commands = "ok" if status["kafka"] == "ok" else "unavailable"
    down = [name for name in READ_PATH if status[name] != "ok"]
    if down:
        return problem_response(
            request,
            503,
            f"Not ready: {', '.join(down)} unreachable. Start the local stack with `itscam stack up` or check the "
            "ITS_PG_DSN / ITS_REDIS_URL settings; the API log says why.",
            checks=status,
            commands=commands,
        )
    return json_response({"status": "ready", "checks": status, "commands": commands})


def create_app(settings: ApiSettings | None = None) -> Starlette:
    s = settings or ApiSettings()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        s.pg_dsn.get_secret_value(),
        min_size=1,
        max_size=s.pool_size,
        open=False,
        timeout=s.pool_timeout_s,
        kwargs={
            "options": session_options(
                statement_timeout_ms=s.statement_timeout_ms,
                idle_in_transaction_timeout_ms=s.idle_in_transaction_timeout_ms,
            )
        },
    )
    # Two redis-py clients from the one URL (any form redis-py takes: redis://, rediss://, unix://, user and
    # password, db): requests' reads, writes and scripts with a timeout, and pub/sub without one (a stream waits on it
    # for minutes).
    redis_url = s.redis_url.get_secret_value()
    # rediss:// is TLS with the certificate verified (projections.rediskit). The query cache (its:qc:*) goes to
    # ITS_API_CACHE_REDIS_URL when set, so it can never evict the state (counters, rate-limit buckets).
    cache = async_client(redis_url, socket_timeout=s.ready_timeout_s, socket_connect_timeout=s.ready_timeout_s)
    pubsub_redis = async_client(redis_url, socket_connect_timeout=s.ready_timeout_s)
    cache_url = s.cache_redis_url.get_secret_value() if s.cache_redis_url else None
    query_cache = QueryCache(
        async_client(cache_url, socket_timeout=s.ready_timeout_s, socket_connect_timeout=s.ready_timeout_s)
        if cache_url
        else cache,
        separate=cache_url is not None,
    )
    d = Deps(
        settings=s,
        pool=pool,
        redis=cache,
        pubsub_redis=pubsub_redis,
        keys=KeyCache(pool, s.key_cache_s, s.key_cache_max),
        limiter=RateLimiter(ScriptRunner(cache)),
        audit=AuditWriter(pool, s.audit_flush_s, s.audit_batch, s.audit_max_pending),
        commands=CommandProducer(s.kafka_bootstrap, s.command_timeout_s),
        query_cache=query_cache,
        streams=Slots("event streams", s.sse_max_per_key, s.sse_max_per_worker),
        exports=Slots("downloads", s.export_max_per_key, s.export_max_per_worker),
    )
    d.leases = StreamLeases(d.limiter.scripts, s.sse_max_per_key)
    spec = openapi(s)
    spec_body = dumps(spec)
    docs_body = docs_html(spec)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # wrong Redis credentials or a failed TLS handshake stop the start-up, naming the setting
        await check_async(cache, redis_url, "ITS_REDIS_URL")
        if cache_url:
            await check_async(query_cache.client, cache_url, "ITS_API_CACHE_REDIS_URL")
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
            if cache_url:
                await query_cache.aclose()

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
        middleware=[
            Middleware(Gate, deps=d, templates=templates),
            Middleware(BodyLimit, max_bytes=s.max_body_bytes),  # inside the gate: its refusals are audited
        ],
    )
    app.state.settings = s
    app.state.openapi = spec
    app.state.deps = d
    return app
