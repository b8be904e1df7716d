"""Kafka client configuration every deployable and the CLI share, and the broker reachability check."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from eventbus.errors import KafkaUnavailableError

__all__ = ["DEFAULT_BOOTSTRAP", "MAX_MESSAGE_BYTES", "check_kafka", "consumer_config", "producer_config"]

# The local stack's broker (`itscam stack up`). Settings resolve ITS_KAFKA_BOOTSTRAP against it in one place:
# eventbus.settings.DeployableSettings.
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"

# Frames can be several MB at 4K; keep client limits in line with the topic's max.message.bytes.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024 + 65536


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": MAX_MESSAGE_BYTES,
    }
    cfg.update(overrides)
    return cfg


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Only see what upstream transactions committed (exactly-once chain).
        "isolation.level": "read_committed",
        "fetch.message.max.bytes": MAX_MESSAGE_BYTES,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
    }
    cfg.update(overrides)
    return cfg


def check_kafka(bootstrap: str, timeout: float = 3.0) -> None:
    """Raise KafkaUnavailableError (a ConnectionError) naming the bootstrap address when no broker answers."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as e:
        raise KafkaUnavailableError(
            f"Kafka at {bootstrap} did not answer within {timeout}s ({e}). "
            "Start the local stack with `itscam stack up` or set ITS_KAFKA_BOOTSTRAP."
        ) from e
