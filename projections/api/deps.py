"""What the routes share: settings, the PostgreSQL pool, Redis clients, keys, rate limits, audit, Kafka."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from projections.api.audit import AuditWriter
from projections.api.auth import KeyCache
from projections.api.limits import Slots, StreamLeases
from projections.api.producer import CommandProducer
from projections.api.ratelimit import RateLimiter
from projections.api.settings import ApiSettings
from projections.rediskit import QueryCache

__all__ = ["Deps", "deps"]


@dataclass
class Deps:
    settings: ApiSettings
    pool: AsyncConnectionPool[Any]
    redis: aioredis.Redis
    pubsub_redis: aioredis.Redis  # no socket timeout: a stream waits on it for minutes
    keys: KeyCache
    limiter: RateLimiter
    audit: AuditWriter
    commands: CommandProducer
    query_cache: QueryCache  # its:qc:* answers; the state instance (`redis`) or one of its own
    streams: Slots  # open /v1/stream answers, per key and per worker (H5a)
    exports: Slots  # CSV/Parquet downloads in progress (each holds a pool connection), per key and per worker (H5a)
    in_flight: dict[str, asyncio.Future[bytes]] = field(default_factory=dict)  # single-flight query cache misses
    leases: StreamLeases | None = None  # event streams per key over all workers (Redis); set by create_app


def deps(request: Request) -> Deps:
    d: Deps = request.app.state.deps
    return d
