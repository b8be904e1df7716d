"""Idempotent topic and schema provisioning (`itscam topics apply`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from eventbus.config import admin_config, producer_config
from eventbus.errors import EventBusError
from schemas.serde import codec, schema_files
from schemas.topics import CATALOGUE, SCHEMAS, Topic

__all__ = ["apply_topics", "publish_schemas"]

log = logging.getLogger(__name__)


def apply_topics(bootstrap: str, topics: Iterable[Topic] = CATALOGUE, timeout: float = 30.0) -> list[str]:
    """Create missing topics and bring configs of existing ones in line. Returns the names created."""
    topics = list(topics)
    admin = AdminClient(admin_config(bootstrap))
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
    """Publish every schema's current .avsc (not avro/history/) to the compacted schema topic keyed by fingerprint.
    Idempotent by compaction."""
    producer = Producer(producer_config(bootstrap))
    for name, text in schema_files().items():
        producer.produce(topic, key=codec(name).fingerprint.hex().encode(), value=text.encode())
    left = producer.flush(30)
    if left:
        raise EventBusError(f"{left} schema(s) were not acknowledged by Kafka at {bootstrap} within 30s.")
    return len(schema_files())
