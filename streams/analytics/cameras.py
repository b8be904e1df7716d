"""Follows the compacted camera topic into memory: every analytics worker needs every camera's lines and zones.

All partitions are read from the beginning without a consumer group (nothing is committed), like a Faust global
table; a tombstone marks a camera removed. Records that are not a CameraConfig are logged and skipped here (the
ingest workers already send them to the dead-letter topic).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from eventbus.config import consumer_config
from eventbus.watermarks import partitions, watermark
from schemas.cameras import decode_camera
from schemas.errors import SchemaError
from schemas.events import CameraConfig
from schemas.topics import CAMERAS
from streams.analytics.metrics import SKIPPED

__all__ = ["CameraFollower"]

log = logging.getLogger(__name__)


class CameraFollower:
    def __init__(self, bootstrap: str, topic: str = CAMERAS.name) -> None:
        self.topic = topic
        self._consumer = Consumer(
            consumer_config(bootstrap, "its-analytics-cameras-unused", **{"enable.auto.commit": False})
        )
        self._bootstrap = bootstrap
        parts = partitions(self._consumer, topic, bootstrap=bootstrap)
        self._tps = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        # Watermark look-ups on a consumer of their own: on the polling one they wait behind its consume() loop.
        self._meta = Consumer(consumer_config(bootstrap, "its-analytics-cameras-meta-unused"))
        self._consumer.assign(self._tps)
        self._lock = threading.Lock()
        self._configs: dict[str, CameraConfig] = {}
        self._removed: set[str] = set()
        self._positions: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msgs = self._consumer.consume(500, 0.2)
            # position(), not the last offset + 1: compaction and control records leave gaps before the end.
            positions = self._consumer.position([TopicPartition(self.topic, tp.partition) for tp in self._tps])
            with self._lock:
                for m in msgs:
                    if not m.error():
                        self._apply(m)
                for tp in positions:
                    if tp.offset >= 0:
                        self._positions[tp.partition] = tp.offset

    def _apply(self, m: Any) -> None:
        key = m.key().decode() if m.key() else None
        if m.value() is None:
            if key:
                self._configs.pop(key, None)
                self._removed.add(key)
            return
        try:
            cfg = decode_camera(m.value())
        except SchemaError as e:
            # Not dead-lettered here: every replica reads the whole topic at every start, so a letter would be written
            # again each time; the projector, which reads it as a consumer group, dead-letters it once.
            SKIPPED.labels("bad-camera-record").inc()
            log.warning("skipping camera record %s[%d]@%d: %s", m.topic(), m.partition(), m.offset(), e)
            return
        self._configs[cfg["camera_id"]] = cfg
        self._removed.discard(cfg["camera_id"])

    def get(self, camera_id: str) -> CameraConfig | None:
        with self._lock:
            return self._configs.get(camera_id)

    def was_removed(self, camera_id: str) -> bool:
        with self._lock:
            return camera_id in self._removed

    def sync(self, timeout: float) -> bool:
        """Wait until every record written to the camera topic before this call has been applied."""
        deadline = time.monotonic() + timeout
        ends = {
            tp.partition: watermark(
                self._meta, self.topic, tp.partition, bootstrap=self._bootstrap, timeout=max(timeout, 0.5)
            )[1]
            for tp in self._tps
        }
        while time.monotonic() < deadline:
            with self._lock:
                if all(self._positions.get(p, 0) >= high for p, high in ends.items() if high > 0):
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._consumer.close()
        self._meta.close()
