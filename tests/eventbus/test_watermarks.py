"""Reading topics to their high watermarks, against the real broker (eventbus/watermarks.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from eventbus.config import consumer_config, producer_config
from eventbus.errors import EventBusError, TopicNotFoundError
from eventbus.watermarks import read_to_end, read_until, watermark, watermarks
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


def _values(bootstrap: str, topic: str) -> list[bytes]:
    return sorted(m.value() or b"" for m in read_to_end(bootstrap, [topic], timeout=20))


def test_reads_every_partition_to_its_end(bootstrap: str, make_topic: Callable[..., str]) -> None:
    topic = make_topic("wm", 3)
    produce(bootstrap, topic, [(f"k{i}".encode(), f"v{i:02}".encode()) for i in range(30)])
    assert _values(bootstrap, topic) == [f"v{i:02}".encode() for i in range(30)]


def test_an_empty_topic_is_read_at_once(bootstrap: str, make_topic: Callable[..., str]) -> None:
    assert _values(bootstrap, make_topic("wm-empty", 2)) == []


def test_transaction_markers_and_aborted_records_at_the_end_do_not_stall_it(
    bootstrap: str, make_topic: Callable[..., str]
) -> None:
    """The high watermark counts commit/abort markers and aborted records: the read ends on the position."""
    topic = make_topic("wm-txn", 1)
    p = Producer(producer_config(bootstrap, **{"transactional.id": f"test-wm-{uuid.uuid4().hex[:8]}"}))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=b"k", value=f"committed{i}".encode())
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(topic, key=b"k", value=b"aborted")
    p.flush(30)
    p.abort_transaction(30)
    assert _values(bootstrap, topic) == [b"committed0", b"committed1", b"committed2"]


def test_read_until_starts_where_it_is_told(bootstrap: str, make_topic: Callable[..., str]) -> None:
    topic = make_topic("wm-start", 1)
    produce(bootstrap, topic, [(b"k", f"v{i}".encode()) for i in range(10)])
    c = Consumer(consumer_config(bootstrap, f"test-wm-{uuid.uuid4().hex[:8]}"))
    try:
        marks = watermarks(c, [topic], bootstrap=bootstrap, timeout=10)
        assert marks == {(topic, 0): (0, 10)}
        got = [
            m.offset()
            for batch in read_until(c, {(topic, 0): 7}, bootstrap=bootstrap, starts={(topic, 0): 4})
            for m in batch
        ]
    finally:
        c.close()
    assert got == [4, 5, 6]


def test_a_missing_topic_names_the_broker_and_the_fix(bootstrap: str) -> None:
    missing = rf"test\.nope\.\w+ does not exist at {bootstrap}: run `itscam topics apply`"
    with pytest.raises(TopicNotFoundError, match=missing):
        list(read_to_end(bootstrap, [f"test.nope.{uuid.uuid4().hex[:8]}"], timeout=10))


class _RestartingBrokerConsumer:
    """A fake consumer (a broker mid-restart cannot be staged on demand): NOT_LEADER_FOR_PARTITION for the first
    `fails` calls, as librdkafka raises it from get_watermark_offsets (not marked retriable), then the watermarks."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.calls = 0

    def get_watermark_offsets(self, tp: object, timeout: float, cached: bool) -> tuple[int, int]:
        self.calls += 1
        if self.calls <= self.fails:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return 3, 7


def test_a_broker_that_just_restarted_is_asked_again_until_the_timeout() -> None:
    c = _RestartingBrokerConsumer(fails=2)
    assert watermark(c, "t", 0, bootstrap="b:1", timeout=10) == (3, 7)  # type: ignore[arg-type]
    assert c.calls == 3


def test_a_retriable_error_past_the_timeout_names_the_broker_and_the_fix() -> None:
    c = _RestartingBrokerConsumer(fails=10**6)
    with pytest.raises(EventBusError, match=r"Reading the watermarks of t\[0\] at b:1 failed within 1.0s"):
        watermark(c, "t", 0, bootstrap="b:1", timeout=1.0)  # type: ignore[arg-type]
