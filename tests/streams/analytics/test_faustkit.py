"""The fence around Faust's private surface (streams/analytics/faustkit.py): each access checked against the
installed faust-streaming and aiokafka, failing with what changed and what to re-check. Whether the whole holds
on the broker is test_app.py's (kill -9 mid-stream: every vehicle once) and tests/security/test_changelog.py's."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import faust
import faust.types
import pytest
from aiokafka.producer.transaction_manager import TransactionManager as AioTransactions
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import TransactionManager
from faust.transport.drivers.aiokafka import Producer

from streams.analytics.faustkit import (
    VERIFIED_AIOKAFKA,
    VERIFIED_FAUST,
    Transactions,
    ack_range,
    fetched_past,
    installed_versions,
    repair_gaps,
)

#: sha256 of faust 0.15.3's Producer.commit_transactions, which Transactions.install replaces step for step
COMMIT_SOURCE_SHA256 = "70091e6f431974e9cc7cc7d07e03e839aa5aadc5effe7a2b8fb23071f1364171"


def test_faust_and_aiokafka_are_versions_the_fence_was_verified_on() -> None:
    v = installed_versions()
    assert v["faust-streaming"] in VERIFIED_FAUST and v["aiokafka"] in VERIFIED_AIOKAFKA, (
        f"installed {v}, verified {VERIFIED_FAUST} / {VERIFIED_AIOKAFKA}: re-check every private access listed in "
        "streams/analytics/faustkit.py against the new release (the tests below), run tests/streams/analytics, then "
        "add the version to VERIFIED_FAUST / VERIFIED_AIOKAFKA and to the README"
    )


def test_the_commit_method_the_hook_replaces_is_unchanged() -> None:
    src = inspect.getsource(Producer.commit_transactions)
    assert hashlib.sha256(src.encode()).hexdigest() == COMMIT_SOURCE_SHA256, (
        "faust.transport.drivers.aiokafka.Producer.commit_transactions changed: Transactions.install replaces it "
        "with a copy of its 0.15.3 steps plus the state-writing hook; port the new steps into faustkit.py, then "
        f"update COMMIT_SOURCE_SHA256. New source:\n{src}"
    )
    params = list(inspect.signature(Producer.commit_transactions).parameters)
    assert params == ["self", "tid_to_offset_map", "group_id", "start_new_transaction"], params


def test_transactional_ids_are_still_app_id_group_partition() -> None:
    src = inspect.getsource(TransactionManager.commit)
    assert 'f"{group_id}-{group}-{tp.partition}"' in src, (
        "Faust's TransactionManager.commit builds transactional ids differently now; Transactions.tid must follow "
        f"it or records go to another partition's transaction:\n{src}"
    )


def test_the_producer_still_keeps_a_lock_and_a_producer_per_transaction() -> None:
    app = faust.App("test-faustkit", broker="kafka://127.0.0.1:1", processing_guarantee="exactly_once")
    producer = app.producer
    assert isinstance(producer, Producer), type(producer)
    assert isinstance(producer._trn_locks, dict), "Producer._trn_locks is not a dict of locks by transactional id"
    src = inspect.getsource(Producer.begin_transaction)
    assert "self._trn_locks[transactional_id] = asyncio.Lock()" in src, (
        f"Producer no longer creates a lock per transactional id where faustkit expects it:\n{src}"
    )
    assert isinstance(producer._transaction_producers, dict), "Producer._transaction_producers is not a dict"
    assert inspect.iscoroutinefunction(Producer.commit_transactions)
    kit = Transactions(app, on_commit=lambda *_: asyncio.sleep(0))
    kit.install()
    assert inspect.iscoroutinefunction(producer.commit_transactions)
    assert producer.commit_transactions.__qualname__.startswith("Transactions.install")


def test_aiokafka_transactions_still_answer_whether_one_is_open() -> None:
    assert callable(getattr(AioTransactions, "is_in_transaction", None)), (
        "aiokafka's TransactionManager.is_in_transaction is gone: Transactions.open uses it (through the "
        "transactional producer's _txn_manager) to begin a transaction only when none is open"
    )


def test_messages_are_still_built_positionally_with_a_tp() -> None:
    params = list(inspect.signature(faust.types.Message.__init__).parameters)
    assert params[:10] == [
        "self",
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestamp_type",
        "headers",
        "key",
        "value",
        "checksum",
    ], f"faust.types.Message's constructor changed; faustkit.ack_range builds them positionally: {params}"
    assert "tp" in params, "faust.types.Message no longer takes tp=; ack_range keys the acks by the consumer's tp"


def test_faust_still_records_a_fetch_gap_up_to_the_record_after_it() -> None:
    drain = inspect.getsource(FaustConsumer._drain_messages)
    add_gap = inspect.getsource(FaustConsumer._add_gap)
    assert "await self._add_gap(tp, r_offset + 1, offset)" in drain and "addi(offset_from, offset_to + 1)" in add_gap, (
        "Faust's fetch-gap bookkeeping changed (Consumer._drain_messages / _add_gap): faustkit.repair_gaps passes "
        "offset_to - 1 because 0.15.3 counted the record after a gap as part of it; check whether the new release "
        f"still does, and drop or adapt repair_gaps:\n{drain}\n{add_gap}"
    )


class _Gaps:
    """A partition of its own (committed offset 10) of a Faust consumer without a broker, gaps repaired."""

    def __init__(self, app: Any, partition: int) -> None:
        self.app, self.consumer = app, app.consumer
        self.tp = faust.types.TP("det", partition)
        self.app.topics._acking_topics.add(self.tp.topic)  # what the conductor does for a topic an agent consumes
        self.consumer._committed_offset[self.tp] = 10

    def message(self, offset: int) -> faust.types.Message:
        return faust.types.Message("det", self.tp.partition, offset, 0.0, 0, None, None, None, None, tp=self.tp)

    def fetch(self, offsets: list[int], last: int | None = None) -> None:
        """What Consumer._drain_messages does for records fetched at `offsets` (their gaps), then the stream's acks."""
        for offset in offsets:
            if last is not None and offset - last > 1:
                self.gap(last + 1, offset)
            self.consumer.ack(self.message(offset))
            last = offset

    def gap(self, start: int, record: int) -> None:
        step = self.consumer._add_gap(self.tp, start, record)  # awaits only asyncio.sleep(0): no loop needed
        with contextlib.suppress(StopIteration):
            while True:
                step.send(None)


def _loops() -> set[asyncio.AbstractEventLoop]:
    with warnings.catch_warnings():  # isinstance() on some objects warns (torch.distributed.reduce_op, deprecated)
        warnings.simplefilter("ignore")
        return {o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()}


@pytest.fixture(scope="module")
def gap_app() -> Iterator[Any]:
    before = _loops()
    app = faust.App("test-faustkit-gaps", broker="kafka://127.0.0.1:1", processing_guarantee="exactly_once")
    repair_gaps(app)
    yield app
    for loop in _loops() - before:  # the consumer's and its thread's (one app for the module: each makes more)
        loop.close()


@pytest.fixture
def gaps(gap_app: Any) -> _Gaps:
    return _Gaps(gap_app, partition=len(gap_app.consumer._committed_offset))


def test_commits_get_past_every_transaction_marker_in_one_go(gaps: _Gaps) -> None:
    # Records 10-11, 13, 15-16 and 18; markers (no record for the consumer) at 12, 14 and 17. Unrepaired, 0.15.3
    # answered 14, then one marker further per commit.
    gaps.fetch([10, 11, 13, 15, 16, 18])
    assert gaps.consumer._new_offset(gaps.tp) == 19
    assert gaps.consumer._acked[gaps.tp] == [], "offsets left acked after a commit over all of them"


def test_a_record_after_a_gap_is_not_counted_as_acked_before_it_is(gaps: _Gaps) -> None:
    # The stream has acked 10 and 11 and holds 13 (fetched after the marker at 12), not yet applied.
    gaps.fetch([10, 11])
    gaps.gap(12, 13)
    gaps.consumer.ack(gaps.message(14))  # a later offset acked first (the resume guard's ack_range does this)
    assert gaps.consumer._new_offset(gaps.tp) == 13, "committed past record 13, which is not applied yet"


def test_fetched_past_tells_markers_from_records_the_stream_dropped(gaps: _Gaps) -> None:
    gaps.fetch([10, 11, 13])  # the fetch went from 11 to 13: 12 holds no record
    assert fetched_past(gaps.app, gaps.message(13), 12)
    # The fetch got 14-16 but the stream never saw them (the Faust race resume.py guards against): no fetch gap.
    gaps.fetch([14, 15, 16], last=13)
    assert not fetched_past(gaps.app, gaps.message(17), 14)


def test_ack_range_leaves_the_fetch_gaps_to_faust(gaps: _Gaps) -> None:
    gaps.fetch([10, 11, 13])  # marker at 12
    ack_range(gaps.app, gaps.message(14), 12)  # the guard read [12, 14): 12 is the marker, 13 the record
    acked = gaps.consumer._acked[gaps.tp]
    assert sorted(acked) == sorted(set(acked)), f"an offset acked twice: {sorted(acked)}"
    assert gaps.consumer._new_offset(gaps.tp) == 14


def test_repairing_the_gaps_twice_repairs_them_once(gap_app: Any) -> None:
    repair_gaps(gap_app)  # the fixture repaired them already; a second wrapper would drop the last marker too
    g = _Gaps(gap_app, partition=len(gap_app.consumer._committed_offset))
    g.fetch([10, 11, 14])  # markers at 12 and 13
    assert g.consumer._new_offset(g.tp) == 15
