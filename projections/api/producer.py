"""The Kafka producer of camera commands: a request awaits its own delivery report (acks=all), polled by one
background thread, so a slow or absent broker is a 503 for that request and never blocks the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from confluent_kafka import KafkaException, Producer

from eventbus.config import producer_config
from projections.errors import ProjectionError

__all__ = ["CommandProducer", "KafkaDown"]


class KafkaDown(ProjectionError):
    """Kafka did not acknowledge a command in time."""


class CommandProducer:
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _get(self) -> Producer:
        if self._producer is None:
            ms = int(self.timeout_s * 1000)
            self._producer = Producer(
                producer_config(self.bootstrap, **{"message.timeout.ms": ms, "linger.ms": 0, "socket.timeout.ms": ms})
            )
            self._thread = threading.Thread(target=self._poll, name="camera-commands-poll", daemon=True)
            self._thread.start()
        return self._producer

    def _poll(self) -> None:
        while not self._stop.is_set():
            assert self._producer is not None
            self._producer.poll(0.1)

    async def send(
        self, topic: str, key: str, value: bytes | None, headers: list[tuple[str, str | bytes | None]] | None = None
    ) -> tuple[int, int]:
        """Append one record and wait for Kafka's acknowledgement: (partition, offset)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()

        def report(err: Any, msg: Any) -> None:
            def settle() -> None:
                if done.done():
                    return
                if err is not None:
                    done.set_exception(KafkaDown(str(err)))
                else:
                    done.set_result((msg.partition(), msg.offset()))

            loop.call_soon_threadsafe(settle)

        try:
            self._get().produce(topic, key=key.encode(), value=value, headers=headers, on_delivery=report)
        except (KafkaException, BufferError) as e:
            raise KafkaDown(str(e)) from e
        try:
            return await asyncio.wait_for(done, self.timeout_s + 1)
        except TimeoutError:
            raise KafkaDown(f"no acknowledgement within {self.timeout_s + 1:.0f} s") from None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self._producer is not None:
            self._producer.flush(2)
