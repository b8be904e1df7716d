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
from projections.api.producer import CommandProducer
from projections.api.ratelimit import RateLimiter
from projections.api.settings import ApiSettings

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
    in_flight: dict[str, asyncio.Future[bytes]] = field(default_factory=dict)  # single-flight query cache misses


def deps(request: Request) -> Deps:
    d: Deps = request.app.state.deps
    return d
