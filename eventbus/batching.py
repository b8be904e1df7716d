"""Micro-batching polls for the consumers that batch (inference, the projector), and a consume loop around them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message

__all__ = ["consume_loop", "poll_batch"]

log = logging.getLogger(__name__)


def poll_batch(consumer: Consumer, max_batch: int, max_wait_s: float, idle_s: float = 0.5) -> list[Message]:
    """Up to `max_batch` messages: wait at most `idle_s` for the first, then take what is already fetched,
    then wait at most `max_wait_s` more to fill the batch. Never holds a lone message back for longer.

    (`Consumer.consume(n, timeout)` alone waits the whole timeout unless n messages arrive, which adds that
    timeout to the latency of every partial batch.)
    """
    first = consumer.poll(idle_s)
    if first is None:
        return []
    batch = [first]
    if max_batch > 1:
        batch.extend(consumer.consume(num_messages=max_batch - 1, timeout=0))
    deadline = time.monotonic() + max_wait_s
    while len(batch) < max_batch and (left := deadline - time.monotonic()) > 0:
        more = consumer.consume(num_messages=max_batch - len(batch), timeout=left)
        if not more:
            break
        batch.extend(more)
    good = []
    for msg in batch:
        err = msg.error()
        if err is None:
            good.append(msg)
        elif err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error", extra={"error": str(err)})
    return good


def consume_loop(
    consumer: Consumer,
    handle: Callable[[list[Message]], None],
    stop: threading.Event,
    max_batch: int,
    max_wait_s: float,
    idle_exit_s: float | None = None,
) -> None:
    """Feed batches to `handle` until `stop` is set (or nothing arrived for `idle_exit_s`, when given)."""
    last = time.monotonic()
    while not stop.is_set():
        msgs = poll_batch(consumer, max_batch, max_wait_s)
        if msgs:
            last = time.monotonic()
            handle(msgs)
        elif idle_exit_s is not None and time.monotonic() - last > idle_exit_s:
            return
