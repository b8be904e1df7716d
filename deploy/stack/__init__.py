"""The local stack: Kafka (KRaft), PostgreSQL and Redis on loopback, data under one git-ignored folder."""

from __future__ import annotations

from deploy.stack.errors import StackError
from deploy.stack.kafka import KafkaService
from deploy.stack.postgres import PostgresService
from deploy.stack.redis import RedisService
from deploy.stack.settings import StackSettings

__all__ = ["KafkaService", "PostgresService", "RedisService", "StackError", "StackSettings", "services"]


def services(s: StackSettings) -> list[KafkaService | PostgresService | RedisService]:
    """Every service, in start order (Kafka first: it takes longest)."""
    return [KafkaService(s), PostgresService(s), RedisService(s)]
