"""How the demo knows a stage is done: a consumer group has read every committed record before the high watermarks,
although transaction markers keep its committed offsets below them. Against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from eventbus.config import consumer_config, producer_config
from itscam.demo_wait import GroupProgress

pytestmark = pytest.mark.integration


def _transactions(bootstrap: str, topic: str, sizes: list[int]) -> None:
    """One transaction per size, that many records each, all on partition 0: every transaction ends in a marker."""
    p = Producer(producer_config(bootstrap, **{"transactional.id": f"test-demo-wait-{uuid.uuid4().hex[:8]}"}))
    p.init_transactions(30)
    for n in sizes:
        p.begin_transaction()
        for i in range(n):
            p.produce(topic, key=b"cam", value=str(i).encode(), partition=0)
        p.commit_transaction(30)


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    c = Consumer(consumer_config(bootstrap, group))
    try:
        c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        c.close()


def test_a_group_is_done_when_only_transaction_markers_are_left(
    bootstrap: str, make_topic: Callable[..., str], unique: str
) -> None:
    topic, group = make_topic("demo-wait", 2), f"test-demo-wait-{unique}"
    _transactions(bootstrap, topic, [3, 2])  # offsets 0-2 data, 3 marker, 4-5 data, 6 marker
    progress = GroupProgress(bootstrap)
    try:
        ends = progress.ends([topic])
        assert ends[(topic, 0)] == (0, 7) and ends[(topic, 1)] == (0, 0)
        assert progress.behind(group, ends) == {(topic, 0): -1}  # nothing committed yet
        _commit(bootstrap, group, topic, 4)  # through the first transaction and its marker
        assert progress.behind(group, ends) == {(topic, 0): 4}
        _commit(bootstrap, group, topic, 6)  # the last data record + 1: only the final marker is left
        assert progress.behind(group, ends) == {}
    finally:
        progress.close()
