"""Reading whole test topics back from the real broker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, Producer


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Message]:
    """Consume `topic` from the start until `expect` messages arrived (or timeout), read_committed."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.message.max.bytes": 9 * 1024 * 1024,
        }
    )
    c.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    out.append(m)
        # give stragglers (e.g. duplicates that must not exist) a moment to show up
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error() is None:
                    out.append(m)
    finally:
        c.close()
    return out


def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 9 * 1024 * 1024})
    for key, value in items:
        p.produce(topic, key=key, value=value)
    assert p.flush(30) == 0
