"""Reading topics up to their high watermarks: the watermark look-up, and the records before "the end".

`itscam cameras list` (the camera registry as of now), `itscam rebuild` (every event up to the moment it started)
and the analytics camera follower (has it applied everything written before this call?) all take the high
watermark of each partition as the end and read to it. Reads are read_committed (the consumer config's default):
transaction markers and aborted records leave offset gaps, so a partition counts as read when the consumer's
position, not the last record's offset + 1, reaches its end.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from eventbus.config import consumer_config
from eventbus.errors import EventBusError, TopicNotFoundError

__all__ = ["PartitionKey", "partitions", "read_to_end", "read_until", "watermark", "watermarks"]

log = logging.getLogger(__name__)

PartitionKey = tuple[str, int]
"""(topic, partition)"""

#: answers of a broker that is (re)starting or moving a partition, which librdkafka's watermark query does not mark
#: retriable: asked again until the caller's timeout
_TRANSIENT = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)


def partitions(consumer: Consumer, topic: str, *, bootstrap: str, timeout: float = 30.0) -> list[int]:
    """The partition numbers of `topic`; TopicNotFoundError naming the broker and the fix when it does not exist."""
    try:
        md = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    except KafkaException as e:
        raise EventBusError(f"Listing topic {topic} at {bootstrap} failed ({e}); check `itscam stack status`.") from e
    if md is None or md.error is not None or not md.partitions:
        raise TopicNotFoundError(f"Topic {topic} does not exist at {bootstrap}: run `itscam topics apply`.")
    return sorted(md.partitions)


def watermark(
    consumer: Consumer, topic: str, partition: int, *, bootstrap: str, timeout: float = 30.0
) -> tuple[int, int]:
    """(low, high) watermark of one partition, asked of the broker (never the client's cached value). A transient
    error (a broker that just restarted answers NOT_LEADER_FOR_PARTITION until it has loaded its partitions) is
    retried until `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(deadline - time.monotonic(), 0.1)
        try:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=left, cached=False)
            return int(lo), int(hi)
        except KafkaException as e:
            err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
            if err is not None and (err.retriable() or err.code() in _TRANSIENT) and time.monotonic() < deadline:
                time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
                continue
            raise EventBusError(
                f"Reading the watermarks of {topic}[{partition}] at {bootstrap} failed within {timeout}s ({e}); "
                "check the broker with `itscam stack status` or ITS_KAFKA_BOOTSTRAP."
            ) from e


def watermarks(
    consumer: Consumer, topics: Iterable[str], *, bootstrap: str, timeout: float = 30.0
) -> dict[PartitionKey, tuple[int, int]]:
    """(topic, partition) -> (low, high) watermark of every partition of `topics`."""
    return {
        (topic, p): watermark(consumer, topic, p, bootstrap=bootstrap, timeout=timeout)
        for topic in topics
        for p in partitions(consumer, topic, bootstrap=bootstrap, timeout=timeout)
    }


def read_until(
    consumer: Consumer,
    ends: Mapping[PartitionKey, int],
    *,
    bootstrap: str,
    starts: Mapping[PartitionKey, int] | None = None,
    max_batch: int = 500,
    timeout: float = 30.0,
    stop: threading.Event | None = None,
) -> Iterator[list[Message]]:
    """Batches of the records of each partition of `ends`, from `starts` (else the beginning) up to its end offset
    (exclusive), in offset order per partition. Assigns the partitions to `consumer` (which must not subscribe).

    Raises EventBusError when no partition got any further for `timeout` seconds (time the caller spends with a
    batch does not count). Returns early when `stop` is set.
    """
    begin = starts or {}
    pending = {k: end for k, end in ends.items() if begin.get(k, 0) < end}
    consumer.assign([TopicPartition(t, p, begin.get((t, p), OFFSET_BEGINNING)) for t, p in pending])
    last = time.monotonic()
    while pending and not (stop is not None and stop.is_set()):
        good: list[Message] = []
        # A short wait: consume() waits its whole timeout unless max_batch records arrive, and the tail of a read
        # is usually a partial batch.
        for m in consumer.consume(num_messages=max_batch, timeout=0.1):
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error", extra={"error": str(err)})
                continue
            end = pending.get((m.topic() or "", m.partition() or 0))
            if end is not None and (m.offset() or 0) < end:
                good.append(m)
        before = len(pending)
        for tp in consumer.position([TopicPartition(t, p) for t, p in pending]):
            if tp.offset >= pending[(tp.topic, tp.partition)]:
                del pending[(tp.topic, tp.partition)]
        if good:
            yield good
            last = time.monotonic()
        elif len(pending) < before:
            last = time.monotonic()
        elif time.monotonic() - last > timeout:
            left = ", ".join(f"{t}[{p}] to offset {end}" for (t, p), end in sorted(pending.items()))
            raise EventBusError(
                f"Reading {left} at {bootstrap} made no progress for {timeout}s; check the broker with "
                "`itscam stack status` (or ITS_KAFKA_BOOTSTRAP) and that no transaction is left open on the topic."
            )


def read_to_end(
    bootstrap: str, topics: Iterable[str], *, timeout: float = 30.0, group_prefix: str = "itscam-reader"
) -> Iterator[Message]:
    """Every record of `topics` from the beginning up to the high watermarks taken when this is called, on a
    consumer of its own (read_committed, in no consumer group, committing nothing)."""
    c = Consumer(consumer_config(bootstrap, f"{group_prefix}-{uuid.uuid4().hex[:8]}"))
    try:
        ends = {k: hi for k, (lo, hi) in watermarks(c, topics, bootstrap=bootstrap, timeout=timeout).items() if hi > lo}
        for batch in read_until(c, ends, bootstrap=bootstrap, timeout=timeout):
            yield from batch
    finally:
        c.close()
