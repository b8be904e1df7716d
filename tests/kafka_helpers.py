"""Reading whole test topics back from the real broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, Producer


def read_all(bootstrap: str, topic: str, expect: int, timeout: float = 60.0) -> list[Message]:
    """Consume `topic` from the start until `expect` messages arrived (or timeout), read_committed."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.message.max.bytes": 9 * 1024 * 1024,
        }
    )
    c.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error() is None:
                    out.append(m)
        # give stragglers (e.g. duplicates that must not exist) a moment to show up
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error() is None:
                    out.append(m)
    finally:
        c.close()
    return out


def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 9 * 1024 * 1024})
    for key, value in items:
        p.produce(topic, key=key, value=value)
    assert p.flush(30) == 0


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `pred()` held; fails the test naming `what` after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class TopicTail:
    """Follows a topic from the start in a background thread, decoding every value with `decode`.

    `items` holds (arrival monotonic time, key, decoded value) in arrival order; `wait_for(pred)` polls it.
    """

    def __init__(self, bootstrap: str, topic: str, decode: Callable[[bytes], Any]) -> None:
        self.items: list[tuple[float, str, Any]] = []
        self._decode = decode
        self._stop = threading.Event()
        self._c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-tail-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.message.max.bytes": 9 * 1024 * 1024,
            }
        )
        self._c.subscribe([topic])
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for m in self._c.consume(num_messages=500, timeout=0.2):
                if m.error() is None and m.value() is not None:
                    self.items.append((time.monotonic(), (m.key() or b"").decode(), self._decode(m.value())))

    def values(self, key: str | None = None) -> list[Any]:
        return [v for _, k, v in list(self.items) if key is None or k == key]

    def wait_for(self, pred: Callable[[], bool], timeout: float, what: str) -> float:
        return wait_until(pred, timeout, what)

    def close(self) -> None:
        self._stop.set()
        self._t.join(5)
        self._c.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
