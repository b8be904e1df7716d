"""Building dead-letter records: the one way every stage reports a message it cannot process.

A dead letter must always fit its topic, or the stage that writes it would fail on the very message it gives up
on, and retry it forever. So the original value is kept whole only while the record stays under the DLQ topic's
`max.message.bytes` (schemas/topics.py, or `ITS_DLQ_MAX_MESSAGE_BYTES` where the topic is configured otherwise)
less a headroom for the record's framing; past that it is cut, and `value_size`, `value_sha256` (of the whole
original) and `value_truncated` say so. The original key and the error text are capped too (`dlq_key` is the key a
stage gives the dead-letter record itself).
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime
from typing import Protocol

from schemas.events import DeadLetter
from schemas.serde import codec
from schemas.topics import DLQ

__all__ = ["DLQ_HEADROOM_BYTES", "KafkaRecord", "dead_letter", "dlq_key", "max_value_bytes"]

log = logging.getLogger(__name__)

#: what a dead letter needs besides the value: Kafka record and batch framing, the record key, the Avro header and
#: fields, the capped key and error text
DLQ_HEADROOM_BYTES = 64 * 1024
#: the original key kept in a dead letter (and as its record key), at most; camera ids are far shorter
MAX_KEY_BYTES = 4096
#: the error text kept, at most (characters)
MAX_ERROR_CHARS = 8192


class KafkaRecord(Protocol):
    """The parts of a consumed message (e.g. confluent_kafka.Message) a dead letter keeps."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> str | bytes | None: ...
    def value(self) -> str | bytes | None: ...


def _bytes(v: str | bytes | None) -> bytes | None:
    return v.encode() if isinstance(v, str) else v


def max_value_bytes() -> int:
    """The most bytes of an original value a dead letter keeps: the DLQ topic's max.message.bytes less headroom."""
    limit = int(os.environ.get("ITS_DLQ_MAX_MESSAGE_BYTES") or DLQ.extra_config.get("max.message.bytes") or 1_000_000)
    return max(limit - DLQ_HEADROOM_BYTES, 1024)


def dlq_key(key: str | bytes | None) -> bytes | None:
    """The record key of a dead letter: the original key, capped like the copy inside the dead letter."""
    k = _bytes(key)
    return None if k is None else k[:MAX_KEY_BYTES]


def dead_letter(
    msg: KafkaRecord, stage: str, error_type: str, error: BaseException | str, *, max_value: int | None = None
) -> bytes:
    """Encoded DeadLetter for `msg`, with its coordinates and the original key and value, the value cut to
    `max_value` bytes (default `max_value_bytes()`) when longer, with its size and SHA-256 kept.

    Also logs the coordinates and the error (never the value), so every stage reports poison input the same way.
    """
    value = _bytes(msg.value())
    limit = max_value_bytes() if max_value is None else max_value
    truncated = value is not None and len(value) > limit
    log.warning(
        "message sent to dead-letter topic",
        extra={
            "stage": stage,
            "reason": error_type,
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "error": str(error)[:MAX_ERROR_CHARS],
            "value_bytes": None if value is None else len(value),
            "value_truncated": truncated,
        },
    )
    record: DeadLetter = {
        "source_topic": msg.topic() or "",
        "source_partition": msg.partition() or 0,
        "source_offset": msg.offset() or 0,
        "key": dlq_key(msg.key()),
        "value": value[:limit] if value is not None and truncated else value,
        "stage": stage,
        "error_type": error_type,
        "error": str(error)[:MAX_ERROR_CHARS],
        "failed_at": datetime.now(UTC),
        "value_size": None if value is None else len(value),
        "value_sha256": None if value is None else hashlib.sha256(value).hexdigest(),
        "value_truncated": truncated,
    }
    return codec("DeadLetter").encode(record)
