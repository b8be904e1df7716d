"""How far behind the frames topic inference is, per partition: lag in seconds and frames that expired unprocessed.

Lag: now minus the timestamp (ingest's produce time, about the capture time) of the newest frame just consumed of
the partition, i.e. how old the next frame waiting there is; 0 once a poll finds nothing more to read.

Expired: ingest writes the frames topic without transactions, so its offsets have no holes. When inference falls
further behind than the topic's retention (ITS_RETENTION_FRAMES_MS), the frames at its position are deleted before
it reads them; the consumer is reset to the log start (auto.offset.reset=earliest) and the first offset it then gets
is past the one it expected: the difference is the number of frames that expired unprocessed. Which cameras they
belonged to is gone with them: analytics finds that out from the gaps in each camera's run_index.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, Message, TopicPartition

from inference import metrics as m

__all__ = ["Backlog"]

log = logging.getLogger(__name__)


class Backlog:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        #: (topic, partition) -> the offset inference reads next; None: not known yet (looked up when first read)
        self.expected: dict[tuple[str, int], int | None] = {}

    def assigned(self, parts: list[TopicPartition]) -> None:
        for tp in parts:
            self.expected[(tp.topic, tp.partition)] = None

    def revoked(self, parts: list[TopicPartition]) -> None:
        for tp in parts:
            self.expected.pop((tp.topic, tp.partition), None)
            m.LAG_SECONDS.labels(str(tp.partition)).set(0)

    def consumed(self, msgs: list[Message], now: float | None = None) -> None:
        """Note a polled batch (in partition order, as polled): count skipped offsets, set each partition's lag."""
        now = time.time() if now is None else now
        seen: dict[tuple[str, int], tuple[int, int, int]] = {}  # first offset, last offset, newest timestamp (ms)
        for msg in msgs:
            key = (msg.topic() or "", msg.partition() or 0)
            off = msg.offset() or 0
            ts = msg.timestamp()[1]
            first, _, newest = seen.get(key, (off, off, ts))
            seen[key] = (first, off, max(newest, ts))
        for key, (first, last, newest) in seen.items():
            expected = self.expected.get(key)
            if expected is None:
                expected = self._committed(key)
            if expected is not None and first > expected:
                expired = first - expected
                m.FRAMES_EXPIRED.labels(str(key[1])).inc(expired)
                log.warning(
                    "frames expired unprocessed: %s partition %s resumed at offset %s, expected %s",
                    key[0],
                    key[1],
                    first,
                    expected,
                    extra={"topic": key[0], "partition": key[1], "expired": expired, "offset": first},
                )
            self.expected[key] = last + 1
            if newest > 0:
                m.LAG_SECONDS.labels(str(key[1])).set(max(now - newest / 1000, 0.0))

    def caught_up(self) -> None:
        """A poll found nothing to read: no frame waits in any assigned partition."""
        for _, partition in self.expected:
            m.LAG_SECONDS.labels(str(partition)).set(0)

    def _committed(self, key: tuple[str, int]) -> int | None:
        """The group's committed offset of a partition (None: the group never committed there, nothing can have
        expired under it)."""
        try:
            (tp,) = self.consumer.committed([TopicPartition(*key)], timeout=10)
        except Exception as e:  # the lookup only serves the metric: never stop inference for it
            log.warning("committed offset lookup failed: %s", e, extra={"topic": key[0], "partition": key[1]})
            return None
        return tp.offset if tp.offset >= 0 else None
