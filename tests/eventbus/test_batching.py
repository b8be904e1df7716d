"""Micro-batching against the real broker."""

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer

from eventbus.batching import poll_batch
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


def _consumer(bootstrap: str, topic: str) -> Consumer:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    return c


def test_a_partial_batch_is_not_held_back_until_the_idle_timeout(
    bootstrap: str, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("batch", 1)
    produce(bootstrap, topic, [(b"k", b"only-one")])
    c = _consumer(bootstrap, topic)
    try:
        got = poll_batch(c, max_batch=8, max_wait_s=10.0, idle_s=30.0)  # first poll also joins the group
        assert [m.value() for m in got] == [b"only-one"]
        produce(bootstrap, topic, [(b"k", b"second")])
        t0 = time.monotonic()
        got = poll_batch(c, max_batch=8, max_wait_s=0.05, idle_s=30.0)
        # Consumer.consume(8, timeout=30) would sit here for 30 s waiting for 7 more messages.
        assert time.monotonic() - t0 < 10.0
        assert [m.value() for m in got] == [b"second"]
    finally:
        c.close()


def test_batches_are_capped_and_keep_order(bootstrap: str, make_topic: Callable[..., str]) -> None:
    topic = make_topic("batch", 1)
    produce(bootstrap, topic, [(b"k", str(i).encode()) for i in range(20)])
    c = _consumer(bootstrap, topic)
    try:
        seen: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(seen) < 20 and time.monotonic() < deadline:
            batch = poll_batch(c, max_batch=8, max_wait_s=0.2, idle_s=1.0)
            assert len(batch) <= 8
            seen += [m.value() for m in batch]
        assert seen == [str(i).encode() for i in range(20)]
    finally:
        c.close()
