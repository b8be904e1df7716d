"""The fence around Faust's private surface (streams/analytics/faustkit.py): each access checked against the
installed faust-streaming and aiokafka, failing with what changed and what to re-check. Whether the whole holds
on the broker is test_app.py's (kill -9 mid-stream: every vehicle once) and tests/security/test_changelog.py's."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import faust
import faust.types
from aiokafka.producer.transaction_manager import TransactionManager as AioTransactions
from faust.transport.consumer import TransactionManager
from faust.transport.drivers.aiokafka import Producer

from streams.analytics.faustkit import VERIFIED_AIOKAFKA, VERIFIED_FAUST, Transactions, installed_versions

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
