"""Every use of Faust's and aiokafka's private surface by the analytics worker, fenced in this one module.

Faust (the design names it) runs one Kafka transaction per source partition and commits the consumed offsets in it.
Two things it has no public API for, which exactly-once here needs:
 1. to write records to a topic the app does not consume, and to the table's changelog, *inside* the transaction of
    the source partition (Faust sends those outside any transaction, or through a buffer that may reach the broker
    after the next commit): `Transactions.open` holds the lock Faust's commit takes for the partition's
    transactional producer and hands out its `send` (private: `Producer._trn_locks`, `_transaction_producers`,
    aiokafka's `_txn_manager.is_in_transaction()`);
 2. to write the camera states that changed since the last commit into that commit, not once per event:
    `Transactions.install` replaces the producer's `commit_transactions` with the same steps plus a hook that runs,
    under the same lock, just before the offsets are sent to the transaction (private: the method it replaces);
and, for the resume guard (resume.py), to ack offsets Faust itself dropped (`ack_range`: Message objects built
here, acked through the consumer, keyed by the consumer's own TopicPartition), and to tell those from offsets that
hold no record at all (`fetched_past`: the consumer's fetch gaps, `Consumer._gap`).

And one repair of Faust's commit bookkeeping (`repair_gaps`, private: `Consumer._add_gap`). Faust commits the longest
run of consecutive acked offsets, and counts the offsets its fetch skipped (transaction markers, aborted records) as
acked. 0.15.3 records such a gap including the offset of the record fetched after it: that record counted as acked
before it was applied, and, once the stream acked it too, twice. A commit stops at a doubled offset, so each commit got
past one gap only; with more than one producer transaction per partition per commit interval (two inference
replicas, or aborted transactions after faults) the committed offsets fell further behind for ever. A chaos run found
it: analytics processed everything, committed a few offsets a second and never caught up.

tests/streams/analytics/test_faustkit.py checks each of these against the installed Faust and aiokafka and fails
naming what changed; `VERIFIED_FAUST` lists the versions they were verified on (the README states them).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib.metadata import version
from typing import Any, Protocol

from faust.types import Message

__all__ = [
    "VERIFIED_AIOKAFKA",
    "VERIFIED_FAUST",
    "Send",
    "Transactions",
    "ack_range",
    "fetched_past",
    "installed_versions",
    "repair_gaps",
]

log = logging.getLogger(__name__)

#: faust-streaming and aiokafka versions this module's private accesses were checked against
VERIFIED_FAUST = ("0.15.3",)
VERIFIED_AIOKAFKA = ("0.14.0",)


class Send(Protocol):
    async def __call__(self, topic: str, key: bytes | None, value: bytes, partition: int | None) -> None: ...


#: called under the partition's lock, in its open transaction, just before its offsets are committed
OnCommit = Callable[[str, int, Send], Awaitable[None]]


def installed_versions() -> dict[str, str]:
    return {"faust-streaming": version("faust-streaming"), "aiokafka": version("aiokafka")}


def _sender(txn: Any) -> Send:
    async def send(topic: str, key: bytes | None, value: bytes, partition: int | None) -> None:
        await txn.send(topic, value=value, key=key, partition=partition)

    return send


class Transactions:
    """The source partitions' transactional producers, as the analytics app writes through them."""

    def __init__(self, app: Any, on_commit: OnCommit) -> None:
        self._app = app
        self._on_commit = on_commit

    def tid(self, topic: str, partition: int) -> str:
        """The transactional id Faust gives the producer of a source partition (TransactionManager.commit)."""
        return f"{self._app.conf.id}-{self._app.assignor.group_for_topic(topic)}-{partition}"

    @contextlib.asynccontextmanager
    async def open(self, topic: str, partition: int) -> AsyncIterator[tuple[str, Send]]:
        """The partition's transaction, begun if need be, with the lock its commit takes held: a commit sees all of
        what is sent (and changed) inside this block, or none of it."""
        producer = self._app.producer
        tid = self.tid(topic, partition)
        async with producer._trn_locks[tid]:
            txn = producer._transaction_producers[tid]
            if not txn._txn_manager.is_in_transaction():
                await txn.begin_transaction()
            yield tid, _sender(txn)

    async def abort(self, tid: str) -> None:
        """Abort `tid`'s open transaction (its records are never committed), under its lock; nothing if none."""
        producer = self._app.producer
        lock = producer._trn_locks.get(tid)
        txn = producer._transaction_producers.get(tid)
        if lock is None or txn is None:
            return
        async with lock:
            if txn._txn_manager.is_in_transaction():
                await txn.abort_transaction()

    def install(self) -> None:
        """Make the producer's commits run `on_commit` first, in the transaction being committed."""
        producer = self._app.producer
        on_commit = self._on_commit

        async def commit_transactions(
            tid_to_offset_map: Mapping[str, Mapping[Any, int]], group_id: str, start_new_transaction: bool = True
        ) -> None:
            # faust.transport.drivers.aiokafka.Producer.commit_transactions (0.15.3), with the hook added.
            for tid, offsets in tid_to_offset_map.items():
                async with producer._trn_locks[tid]:
                    txn = producer._transaction_producers.get(tid)
                    if txn is None:
                        log.warning("commit invoked for unknown transaction %s", tid)
                        continue
                    if not txn._txn_manager.is_in_transaction():
                        await txn.begin_transaction()
                    await on_commit(tid, int(tid.rsplit("-", 1)[1]), _sender(txn))
                    await txn.send_offsets_to_transaction(offsets, group_id)
                    await txn.commit_transaction()
                    if start_new_transaction:
                        await txn.begin_transaction()

        producer.commit_transactions = commit_transactions


def repair_gaps(app: Any) -> None:
    """Make the consumer record a fetch gap without the record that ends it (see the module's docstring). Call it
    once the worker runs (at an assignment; again is a no-op): the app's consumer must not be made before Faust
    makes it, or Faust starts no transactional producers."""
    consumer = app.consumer
    if getattr(consumer, "_its_gaps_repaired", False):
        return
    consumer._its_gaps_repaired = True
    add_gap = consumer._add_gap

    async def _add_gap(tp: Any, offset_from: int, offset_to: int) -> None:
        # Consumer._drain_messages (0.15.3) passes the offset of the record after the gap as offset_to, and
        # _add_gap keeps offset_to inclusive.
        await add_gap(tp, offset_from, offset_to - 1)

    consumer._add_gap = _add_gap


def fetched_past(app: Any, msg: Any, start: int) -> bool:
    """Whether Faust's fetch went from a record before `start` straight to `msg`: offsets [start, msg.offset) then
    hold no record a read_committed consumer gets (markers, aborted records), and Faust acks them itself."""
    tree = app.consumer._gap.get(msg.tp)
    return bool(tree) and any(iv.begin <= start and iv.end >= msg.offset for iv in tree.overlap(start, msg.offset))


def ack_range(app: Any, msg: Any, start: int) -> None:
    """Ack offsets [start, msg.offset) of msg's partition: records Faust dropped and the resume guard applied, and
    the offsets without a record among them, less those Faust holds as a fetch gap (it acks those itself: acked
    twice, an offset stops the commit). Faust commits only a contiguous run of acked offsets (upstream #596); the
    TopicPartition is the consumer's own (`msg.tp`): a commit keyed by faust.types.TP is refused by aiokafka."""
    tp = msg.tp
    tree = app.consumer._gap.get(tp)
    for offset in range(start, msg.offset):
        if tree and tree.overlaps_point(offset):
            continue
        app.consumer.ack(Message(msg.topic, msg.partition, offset, 0.0, 0, None, None, None, None, tp=tp))
