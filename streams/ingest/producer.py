"""The ingest worker's one Kafka producer: idempotent, acks=all, bounded, delivery errors counted and logged."""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import KafkaError, Message, Producer

from eventbus.config import producer_config
from streams.ingest import metrics as m

__all__ = ["FrameProducer"]

log = logging.getLogger(__name__)


class FrameProducer:
    """Thread-safe wrapper: `send()` never blocks the caller; a full queue is reported by returning False.

    Queue bounds (`max_messages`, `max_kbytes`) keep memory flat when Kafka is slow or down; delivery reports are
    served by a background thread and counted per camera (`its_ingest_frames_produced_total` counts acknowledged
    frames; `its_ingest_delivery_errors_total` the ones Kafka refused or that timed out).
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        max_messages: int = 20_000,
        max_kbytes: int = 262_144,
        message_timeout_ms: int = 60_000,
        frames_topic: str = "",
    ) -> None:
        self.bootstrap = bootstrap
        self._p = Producer(
            producer_config(
                bootstrap,
                **{
                    "linger.ms": 10,
                    "queue.buffering.max.messages": max_messages,
                    "queue.buffering.max.kbytes": max_kbytes,
                    "message.timeout.ms": message_timeout_ms,
                    "compression.type": "none",  # JPEG does not compress; spare the CPU
                },
            )
        )
        self.frames_topic = frames_topic
        self._stop = threading.Event()
        self._last_error_log: dict[str, float] = {}
        self.failed = 0
        self.delivered_frames = 0  # acknowledged messages on frames_topic
        self._lock = threading.Lock()
        self._poller = threading.Thread(target=self._poll, name="ingest-producer-poll", daemon=True)
        self._poller.start()

    def send(self, topic: str, key: str, value: bytes) -> bool:
        try:
            self._p.produce(topic, key=key.encode(), value=value, on_delivery=self._delivery)
            return True
        except BufferError:
            return False

    def _delivery(self, err: KafkaError | None, msg: Message) -> None:
        camera = (msg.key() or b"").decode(errors="replace")
        topic = msg.topic() or ""
        with self._lock:
            if err is not None:
                self.failed += 1
        if err is None and topic == self.frames_topic:
            m.PRODUCED.labels(camera).inc()
            with self._lock:
                self.delivered_frames += 1
        if err is not None:
            m.DELIVERY_ERRORS.labels(camera, err.name()).inc()
            now = time.monotonic()
            if now - self._last_error_log.get(camera, 0.0) > 10.0:  # one line per camera per 10 s, not per frame
                self._last_error_log[camera] = now
                log.error(
                    "Kafka did not accept a message; it is lost. Check the broker (`itscam stack status`)",
                    extra={"camera_id": camera, "topic": topic, "error": str(err), "bootstrap": self.bootstrap},
                )

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._p.poll(0.1)

    def pending(self) -> int:
        return len(self._p)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued message to be acknowledged; returns how many are still unacknowledged."""
        return int(self._p.flush(timeout))

    def close(self, timeout: float = 30.0) -> int:
        left = self.flush(timeout)
        self._stop.set()
        self._poller.join(5)
        if left:
            log.error(
                "messages still unacknowledged at shutdown; they are lost",
                extra={"count": left, "bootstrap": self.bootstrap},
            )
        return left
