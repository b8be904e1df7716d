"""Input records Faust skipped when it resumed a partition, read back from the broker and applied in order.

faust-streaming 0.15 can drop input records around a partition assignment. Observed here: records fetched between
the seek to the committed offsets and the end of table recovery ("Worker ready") never reached the agent (30 and
135 in a row when the agent was slow to take its first record; one in CI, a per-minute window of 599 frames
instead of 600), and Faust then never committed that partition again, its acked offsets having a hole. Upstream
issues #596 and #216 describe this race (stream queues cleared when flow resumes) and #606 the commit over a single
missing head offset; which path dropped the records here was not pinned down (the queues were empty when cleared).

So after each assignment, for a settling period, every input partition is followed offset by offset from where it
resumes (the committed offset, or the earliest record where the group has none): when the agent gets a record
past the next expected offset, the records in between are read straight from the broker (read_committed, like
Faust's consumer) and applied first, in the same transaction. Transaction markers and aborted records also leave
offset gaps: where Faust's fetch itself went over the gap (faustkit.fetched_past) nothing is read, else the read
returns nothing for them. Records that the camera state already holds come back as duplicates and are skipped
there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from eventbus.config import consumer_config
from eventbus.errors import EventBusError
from eventbus.watermarks import read_until, watermark

__all__ = ["Missed", "ResumeGuard"]

log = logging.getLogger(__name__)

_Key = tuple[str, int]


@dataclass(frozen=True)
class Missed:
    """An input record read past Faust, with the attributes the agents read from a Faust message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class ResumeGuard:
    """Per input partition, after an assignment: the next offset the agent should get."""

    def __init__(self, bootstrap: str, group_id: str, settle_s: float = 30.0, timeout: float = 30.0) -> None:
        self._bootstrap, self.group_id, self._settle, self._timeout = bootstrap, group_id, settle_s, timeout
        self._expected: dict[_Key, int] = {}
        self._until: dict[_Key, float] = {}  # the end of each partition's settling period, from its first record
        self._lock = threading.Lock()  # the offsets: the event loop and a worker thread change them
        self._io = threading.Lock()  # the consumer: both agents read through it from worker threads
        self._consumer: Consumer | None = None

    def reset(self) -> None:
        """Partitions were revoked: follow none until the next assignment."""
        with self._lock:
            self._expected.clear()
            self._until.clear()

    def assigned(self, partitions: Iterable[_Key]) -> None:
        """Partitions were assigned: each resumes at its committed offset (the earliest record where the group has
        none: the app resets to earliest). Blocking; call it from a thread before the stream acks anything of the
        assignment, since Faust may then commit past a record it dropped."""
        tps = [TopicPartition(t, p) for t, p in partitions]
        start: dict[_Key, int] = {}
        if tps:
            with self._io:
                c = self._client()
                for tp in c.committed(tps, timeout=self._timeout):
                    off = tp.offset
                    if off < 0:
                        off = watermark(c, tp.topic, tp.partition, bootstrap=self._bootstrap, timeout=self._timeout)[0]
                    start[(tp.topic, tp.partition)] = int(off)
        with self._lock:
            self._expected = start
            self._until = {}

    def gap(self, topic: str, partition: int, offset: int) -> int | None:
        """Where a range the stream skipped before this record starts, or None. Cheap: called for every record."""
        key = (topic, partition)
        expected = self._expected.get(key)
        if expected is None or offset <= expected:
            return None
        with self._lock:
            now = time.monotonic()
            if now > self._until.setdefault(key, now + self._settle):
                self._expected.pop(key, None)  # settled
                return None
        return expected

    def following(self, topic: str, partition: int) -> bool:
        return (topic, partition) in self._expected

    def seen(self, topic: str, partition: int, offset: int) -> None:
        """The agent applied (or skipped) this record."""
        key = (topic, partition)
        if key not in self._expected:  # settled (the usual case): nothing to follow
            return
        with self._lock:
            expected = self._expected.get(key)
            if expected is None:
                return
            now = time.monotonic()
            if now > self._until.setdefault(key, now + self._settle):
                del self._expected[key]  # settled: no more checks until the next assignment
            else:
                self._expected[key] = max(expected, offset + 1)

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Missed]:
        """The records of [start, end) of the partition, in order. Blocking: call it from a thread."""
        return self._read(topic, partition, start, end)

    def _read(self, topic: str, partition: int, start: int, end: int) -> list[Missed]:
        key = (topic, partition)
        with self._io:
            c = self._client()
            try:
                # `end` is a record the agent holds: the read always gets there, past any transaction marker.
                out = [
                    Missed(topic, partition, m.offset() or 0, m.key(), m.value())
                    for batch in read_until(
                        c, {key: end}, bootstrap=self._bootstrap, starts={key: start}, timeout=self._timeout
                    )
                    for m in batch
                ]
            except EventBusError as e:
                raise TimeoutError(
                    f"Could not read {topic}[{partition}] offsets {start}..{end - 1} within {self._timeout}s to apply "
                    f"the records the stream skipped ({e}); the worker crashes and its restart resumes from the "
                    "committed offsets."
                ) from e
            finally:
                c.unassign()
        if out:
            log.warning(
                "%s[%d]: the stream went on at offset %d instead of %d; applying the %d skipped record(s) read "
                "from the broker first",
                topic,
                partition,
                end,
                start,
                len(out),
            )
        return out

    def _client(self) -> Consumer:
        # The group's committed offsets are read with its group id; this consumer never subscribes, so it never
        # joins the group nor commits.
        if self._consumer is None:
            self._consumer = Consumer(
                consumer_config(
                    self._bootstrap, self.group_id, **{"enable.auto.commit": False, "fetch.wait.max.ms": 20}
                )
            )
        return self._consumer

    def close(self) -> None:
        with self._io:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
