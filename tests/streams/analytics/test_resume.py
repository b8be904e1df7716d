"""ResumeGuard on the real broker: which input records a resumed stream skipped, read back in order."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.analytics.resume import ResumeGuard
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(bootstrap: str) -> Iterator[str]:
    name = f"test.resume.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(name, 2, 1)]).values():
        f.result(30)
    yield name
    for f in admin.delete_topics([name]).values():
        f.result(30)


def _commit(bootstrap: str, group: str, topic: str, partition: int, offset: int) -> None:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    c.close()


def _ten(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [(b"k", f"v{i}".encode()) for i in range(10)])  # all on one partition (one key)


def _partition_of_k(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        for p in (0, 1):
            if c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] > 0:
                return p
    finally:
        c.close()
    raise AssertionError("no records")


@contextmanager
def _guard(
    bootstrap: str, topic: str, committed: int | None, settle_s: float = 30.0
) -> Iterator[tuple[ResumeGuard, int]]:
    """Ten records on one partition, the group's committed offset, a guard with that partition assigned."""
    _ten(bootstrap, topic)
    p = _partition_of_k(bootstrap, topic)
    group = f"g-{uuid.uuid4().hex[:8]}"
    if committed is not None:
        _commit(bootstrap, group, topic, p, committed)
    guard = ResumeGuard(bootstrap, group, settle_s=settle_s)
    try:
        guard.assigned([(topic, p)])
        yield guard, p
    finally:
        guard.close()


def test_a_record_past_the_committed_offset_reads_back_the_records_in_between_in_order(
    bootstrap: str, topic: str
) -> None:
    with _guard(bootstrap, topic, 3) as (guard, p):
        assert guard.gap(topic, p, 7) == 3
        missed = guard.read(topic, p, 3, 7)
        assert [(m.offset, m.value, m.key, m.partition, m.topic) for m in missed] == [
            (o, f"v{o}".encode(), b"k", p, topic) for o in range(3, 7)
        ]


def test_records_in_sequence_leave_no_gap_and_a_later_skip_is_found(bootstrap: str, topic: str) -> None:
    with _guard(bootstrap, topic, 5) as (guard, p):
        assert guard.gap(topic, p, 2) is None  # a replay from before the seek
        for o in (5, 6):
            assert guard.gap(topic, p, o) is None
            guard.seen(topic, p, o)
        assert guard.gap(topic, p, 9) == 7  # 7 and 8 dropped
        assert [m.offset for m in guard.read(topic, p, 7, 9)] == [7, 8]
        guard.reset()  # revoked: nothing followed until the next assignment
        assert guard.gap(topic, p, 9) is None


def test_without_a_committed_offset_a_partition_resumes_at_its_earliest_record(bootstrap: str, topic: str) -> None:
    with _guard(bootstrap, topic, None) as (guard, p):
        assert guard.gap(topic, p, 2) == 0
        assert [m.offset for m in guard.read(topic, p, 0, 2)] == [0, 1]


def test_a_partition_settles_and_is_then_not_followed(bootstrap: str, topic: str) -> None:
    with _guard(bootstrap, topic, None, settle_s=0.2) as (guard, p):
        guard.seen(topic, p, 0)
        time.sleep(0.3)
        assert guard.gap(topic, p, 5) is None
        assert not guard.following(topic, p)


def test_transaction_markers_and_aborted_records_in_a_gap_are_not_records(bootstrap: str, topic: str) -> None:
    prod = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"t-{uuid.uuid4().hex[:8]}"})
    prod.init_transactions(30)

    def txn(values: list[str], commit: bool) -> None:
        prod.begin_transaction()
        for v in values:
            prod.produce(topic, key=b"k", value=v.encode(), partition=0)
        prod.flush(30)
        (prod.commit_transaction if commit else prod.abort_transaction)(30)

    txn(["a0", "a1"], True)  # offsets 0, 1, marker 2
    txn(["x0", "x1"], False)  # 3, 4 aborted, marker 5
    txn(["b0", "b1"], True)  # 6, 7, marker 8
    guard = ResumeGuard(bootstrap, f"g-{uuid.uuid4().hex[:8]}")
    try:
        guard.assigned([(topic, 0)])
        guard.seen(topic, 0, 1)  # the agent had a1; b0 comes next
        assert guard.gap(topic, 0, 6) == 2
        assert guard.read(topic, 0, 2, 6) == []  # only the marker and the aborted records lie before b0
        assert [(m.offset, m.value) for m in guard.read(topic, 0, 2, 7)] == [(6, b"b0")]
    finally:
        guard.close()


def test_where_a_partition_resumes_is_noted_at_assignment_before_the_stream_can_commit(
    bootstrap: str, topic: str
) -> None:
    with _guard(bootstrap, topic, 3) as (guard, p):
        _commit(bootstrap, guard.group_id, topic, p, 8)  # Faust committing past a record it acked unseen
        assert guard.gap(topic, p, 8) == 3


def test_a_settled_partition_is_forgotten_by_the_records_that_follow(bootstrap: str, topic: str) -> None:
    with _guard(bootstrap, topic, None, settle_s=0.2) as (guard, p):
        guard.seen(topic, p, 0)
        time.sleep(0.3)
        guard.seen(topic, p, 1)  # past the settling period: not followed any more
        assert not guard.following(topic, p)
