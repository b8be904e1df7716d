"""Building dead-letter records: the one way every stage reports a message it cannot process."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Protocol

from schemas.events import DeadLetter
from schemas.serde import codec

__all__ = ["KafkaRecord", "dead_letter"]

log = logging.getLogger(__name__)


class KafkaRecord(Protocol):
    """The parts of a consumed message (e.g. confluent_kafka.Message) a dead letter keeps."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> str | bytes | None: ...
    def value(self) -> str | bytes | None: ...


def _bytes(v: str | bytes | None) -> bytes | None:
    return v.encode() if isinstance(v, str) else v


def dead_letter(msg: KafkaRecord, stage: str, error_type: str, error: BaseException | str) -> bytes:
    """Encoded DeadLetter for `msg`, with its coordinates and the original key and value unchanged.

    Also logs the coordinates and the error, so every stage reports poison input the same way.
    """
    log.warning(
        "message sent to dead-letter topic",
        extra={
            "stage": stage,
            "reason": error_type,
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "error": str(error),
        },
    )
    record: DeadLetter = {
        "source_topic": msg.topic() or "",
        "source_partition": msg.partition() or 0,
        "source_offset": msg.offset() or 0,
        "key": _bytes(msg.key()),
        "value": _bytes(msg.value()),
        "stage": stage,
        "error_type": error_type,
        "error": str(error),
        "failed_at": datetime.now(UTC),
    }
    return codec("DeadLetter").encode(record)
