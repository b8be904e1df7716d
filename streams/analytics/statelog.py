"""The camera-state changelog, read back by the worker itself: what the last commits hold, per assigned partition.

The analytics app writes every camera state and applied-offset mark into the source partition's transaction
(app.py); it reads them back here, read_committed, from the beginning of each assigned changelog partition to its
end, when partitions are assigned. This used to be a Faust table whose recovery Faust ran; after a broker restart
that recovery read a changelog's high watermark as -1 and either crash-looped (ConsistencyError) or skipped the
partition, so its cameras restarted empty (found by `itscam chaos`). Reading it ourselves goes through the same
watermark look-ups as every other read to the end (eventbus/watermarks.py, which retry a restarting broker).

The topic (`<app id>-camera-state-changelog`, compacted, one partition per input partition) is created by
`ensure_changelog` when missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from eventbus.config import admin_config, consumer_config
from eventbus.errors import EventBusError
from eventbus.watermarks import read_until, watermark
from streams.analytics.errors import CoPartitioningError

__all__ = ["StateLog", "changelog_topic", "ensure_changelog"]

log = logging.getLogger(__name__)

#: one record per key survives compaction; short segments keep what a worker reads at an assignment small
CHANGELOG_CONFIG = {"cleanup.policy": "compact", "segment.ms": str(10 * 60 * 1000), "min.cleanable.dirty.ratio": "0.1"}


def changelog_topic(app_id: str) -> str:
    """The name Faust gave the table's changelog before (so deployments keep their states)."""
    return f"{app_id}-camera-state-changelog"


def ensure_changelog(bootstrap: str, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """Create the compacted changelog with `partitions` partitions when missing; refuse one with another count."""
    admin = AdminClient(admin_config(bootstrap))
    md = admin.list_topics(timeout=timeout).topics.get(topic)
    if md is not None and md.error is None and md.partitions:
        if len(md.partitions) != partitions:
            raise CoPartitioningError(
                f"The state changelog {topic!r} has {len(md.partitions)} partitions but the detections topic has "
                f"{partitions}: each camera's state must live on its detections' partition number. Recreate it with "
                f"{partitions} partitions (its states are rebuilt from the input)."
            )
        return
    fut = admin.create_topics([NewTopic(topic, partitions, -1, config=CHANGELOG_CONFIG)])[topic]
    try:
        fut.result(timeout)
    except KafkaException as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):  # another replica created it first
            raise EventBusError(f"Creating the state changelog {topic!r} at {bootstrap} failed: {e}") from e


class StateLog:
    """Reads the committed records of assigned changelog partitions (blocking: call it from a thread)."""

    def __init__(self, bootstrap: str, topic: str, group_id: str, timeout: float = 150.0) -> None:
        # Longer than a transaction's timeout (60 s) plus the coordinator's abort check: a changelog partition
        # with an open transaction of a dead worker that nobody fenced reads to its end once the broker aborts it.
        self.topic, self._bootstrap, self._group, self._timeout = topic, bootstrap, group_id, timeout
        self._io = threading.Lock()

    def load(self, partitions: Iterable[int]) -> dict[bytes, bytes]:
        """key -> its last committed value, over `partitions` (a key whose last value is a tombstone is absent)."""
        parts = sorted(set(partitions))
        if not parts:
            return {}
        out: dict[bytes, bytes] = {}
        with self._io:
            # Never subscribes nor commits: the group id only names the client.
            c = Consumer(consumer_config(self._bootstrap, self._group, **{"enable.auto.commit": False}))
            try:
                bounds = {
                    (self.topic, p): watermark(c, self.topic, p, bootstrap=self._bootstrap, timeout=self._timeout)
                    for p in parts
                }
                ends = {k: hi for k, (lo, hi) in bounds.items() if hi > lo}
                starts = {k: bounds[k][0] for k in ends}
                n = 0
                for batch in read_until(c, ends, bootstrap=self._bootstrap, starts=starts, timeout=self._timeout):
                    for m in batch:
                        key, value = m.key(), m.value()
                        if key is None:
                            continue
                        n += 1
                        if value is None:
                            out.pop(key, None)
                        else:
                            out[key] = value
            finally:
                c.close()
        log.info("state changelog %s: %d records read, %d keys, partitions %s", self.topic, n, len(out), parts)
        return out
