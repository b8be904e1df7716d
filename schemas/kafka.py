"""Kafka client configuration shared by every deployable, and idempotent topic/schema provisioning."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from schemas.errors import SchemaError
from schemas.serde import codec, schema_files
from schemas.topics import CATALOGUE, SCHEMAS, Topic

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "apply_topics",
    "check_kafka",
    "consumer_config",
    "producer_config",
    "publish_schemas",
]

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"

# Frames can be several MB at 4K; keep client limits in line with the topic's max.message.bytes.
_MAX_MESSAGE = 8 * 1024 * 1024 + 65536


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": _MAX_MESSAGE,
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
        "fetch.message.max.bytes": _MAX_MESSAGE,
        "max.partition.fetch.bytes": _MAX_MESSAGE,
    }
    cfg.update(overrides)
    return cfg


def check_kafka(bootstrap: str, timeout: float = 3.0) -> None:
    """Raise ConnectionError naming the bootstrap address when no broker answers."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as e:
        raise ConnectionError(
            f"Kafka at {bootstrap} did not answer within {timeout}s ({e}). "
            "Start the local stack with `itscam stack up` or set ITS_KAFKA_BOOTSTRAP."
        ) from e


def apply_topics(bootstrap: str, topics: Iterable[Topic] = CATALOGUE, timeout: float = 30.0) -> list[str]:
    """Create missing topics and bring configs of existing ones in line. Returns the names created."""
    topics = list(topics)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    created: list[str] = []
    new = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=t.replication, config=t.config())
        for t in topics
        if t.name not in existing
    ]
    if new:
        for name, fut in admin.create_topics(new, request_timeout=timeout).items():
            try:
                fut.result()
                created.append(name)
            except KafkaException as e:
                if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
    for t in topics:
        if t.name in existing:
            have = len(existing[t.name].partitions)
            if have < t.partitions:
                log.warning(
                    "topic has fewer partitions than the catalogue",
                    extra={"topic": t.name, "have": have, "want": t.partitions},
                )
            entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in t.config().items()]
            res = ConfigResource(ConfigResource.Type.TOPIC, t.name, incremental_configs=entries)
            for fut in admin.incremental_alter_configs([res], request_timeout=timeout).values():
                fut.result()
    return created


def publish_schemas(bootstrap: str, topic: str = SCHEMAS.name) -> int:
    """Publish every .avsc to the compacted schema topic keyed by fingerprint. Idempotent by compaction."""
    producer = Producer(producer_config(bootstrap))
    for name, text in schema_files().items():
        producer.produce(topic, key=codec(name).fingerprint.hex().encode(), value=text.encode())
    left = producer.flush(30)
    if left:
        raise SchemaError(f"{left} schema(s) were not acknowledged by Kafka at {bootstrap} within 30s.")
    return len(schema_files())
