"""Following this worker's share of the camera registry (its.cameras.v1) without any coordinator.

All ingest workers are one consumer group on the compacted registry topic. Kafka's partition assignment decides
which worker reads which cameras: a worker replays each partition it is given from the start (offsets are never
committed) to learn its cameras, then follows changes. Adding a worker rebalances cameras to it; a worker that
leaves (or dies, after the session timeout) hands its partitions, and so its cameras, to the others.
Cooperative-sticky assignment moves only the partitions that must move; the rest keep streaming.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from eventbus.config import consumer_config
from schemas import SchemaError
from schemas.cameras import decode_camera
from schemas.events import CameraConfig

__all__ = ["RegistryFollower"]

log = logging.getLogger(__name__)


@dataclass
class _Partition:
    replayed: bool = False  # reached the end once (PARTITION_EOF); later records are live changes
    cameras: dict[str, CameraConfig] = field(default_factory=dict)


class RegistryFollower:
    """`poll()` applies registry records; `desired()` is the cameras of every fully replayed partition.

    Poison records (not a CameraConfig) are handed to `on_poison(message, error)` and otherwise ignored.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        *,
        session_timeout_ms: int = 10_000,
        on_poison: Any = None,
    ) -> None:
        self.topic = topic
        self._c = Consumer(
            consumer_config(
                bootstrap,
                group_id,
                **{
                    "partition.assignment.strategy": "cooperative-sticky",
                    "session.timeout.ms": session_timeout_ms,
                    "heartbeat.interval.ms": max(500, session_timeout_ms // 5),
                    "isolation.level": "read_uncommitted",  # plain (non-transactional) writes
                    "enable.partition.eof": True,
                },
            )
        )
        self._parts: dict[int, _Partition] = {}
        self._on_poison = on_poison
        self.generation = 0  # bumped on every assignment change
        self.tombstoned: set[str] = set()  # cameras removed by a tombstone since the last drain_tombstoned()
        self._c.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)

    # Kafka calls these from inside poll(), on this thread.
    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING  # replay from the start: the registry is the whole truth
            self._parts[tp.partition] = _Partition()
        consumer.incremental_assign(partitions)
        self.generation += 1
        log.info("registry partitions assigned", extra={"partitions": sorted(tp.partition for tp in partitions)})

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._parts.pop(tp.partition, None)
        consumer.incremental_unassign(partitions)
        self.generation += 1
        log.info("registry partitions revoked", extra={"partitions": sorted(tp.partition for tp in partitions)})

    def poll(self, timeout: float = 0.2) -> bool:
        """Apply what arrived; True when the desired camera set may have changed."""
        gen = self.generation
        changed = False
        deadline = time.monotonic() + timeout
        while True:
            msgs = self._c.consume(500, max(0.0, deadline - time.monotonic()))
            for msg in msgs:
                changed |= self._apply(msg)
            if not msgs or time.monotonic() >= deadline:
                break
        return changed or gen != self.generation

    def _apply(self, msg: Message) -> bool:
        err = msg.error()
        st = self._parts.get(msg.partition() or 0)
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF and st is not None:
                st.replayed = True
                return True
            log.warning("registry consumer error", extra={"error": str(err)})
            return False
        if st is None:
            return False
        key = (msg.key() or b"").decode(errors="replace")
        value = msg.value()
        if value is None:
            if st.cameras.pop(key, None) is not None and st.replayed:
                self.tombstoned.add(key)
        else:
            try:
                cfg = decode_camera(value)
            except SchemaError as e:
                st.cameras.pop(key, None)
                if self._on_poison is not None:
                    self._on_poison(msg, e)
                return st.replayed
            if cfg["camera_id"] != key:
                log.error(
                    "registry record's key differs from its camera_id; using the key",
                    extra={"key": key, "camera_id": cfg["camera_id"]},
                )
                cfg = {**cfg, "camera_id": key}
            st.cameras[key] = cfg
        return st.replayed

    def desired(self) -> dict[str, CameraConfig]:
        out: dict[str, CameraConfig] = {}
        for st in self._parts.values():
            if st.replayed:
                out.update(st.cameras)
        return out

    def drain_tombstoned(self) -> set[str]:
        out, self.tombstoned = self.tombstoned, set()
        return out

    def close(self) -> None:
        self._c.close()  # leaves the group: the other workers take these cameras over at once
