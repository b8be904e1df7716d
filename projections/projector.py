"""The projector runner: detections topic -> PostgreSQL read models (+ offsets) -> Redis caches.

Per batch:
  1. consume up to `max_batch` events; undecodable ones go to the DLQ topic (and are acknowledged);
  2. write rows and the next offsets in one PostgreSQL transaction (store.PgStore.write);
  3. update Redis (idempotent: newer-wins);
  4. commit the same offsets to Kafka, asynchronously, only so lag is visible to KEDA and operators.
On partition assignment the consumer seeks to the offsets stored in PostgreSQL, not Kafka's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import psycopg
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from projections import metrics as m
from projections.cache import LiveCache
from projections.errors import ProjectionError
from projections.settings import ProjectorSettings
from projections.store import PgStore
from schemas import SchemaError, codec, dead_letter
from schemas.batching import consume_loop
from schemas.events import DetectionsProduced
from schemas.kafka import consumer_config, producer_config

__all__ = ["Projector"]

log = logging.getLogger(__name__)
STAGE = "projector"


class Projector:
    def __init__(self, settings: ProjectorSettings) -> None:
        self.s = settings
        try:
            self.conn = psycopg.connect(settings.pg_dsn)
        except psycopg.OperationalError as e:
            raise ProjectionError(
                f"Cannot connect to PostgreSQL at {settings.pg_dsn}: {e}. "
                "Start it (`itscam stack up`) or set ITS_PG_DSN."
            ) from e
        self.store = PgStore(self.conn, settings.group_id)
        self.cache = LiveCache(redis.Redis.from_url(settings.redis_url))
        self.codec = codec("DetectionsProduced")
        self.consumer = Consumer(consumer_config(settings.kafka_bootstrap, settings.group_id))
        self.dlq = Producer(producer_config(settings.kafka_bootstrap))
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()

    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        stored = self.store.offsets(self.s.detections_topic)
        for p in parts:
            p.offset = stored.get(p.partition, OFFSET_BEGINNING)
        consumer.assign(parts)
        m.READY.set(1)
        log.info("partitions assigned", extra={"offsets": {p.partition: p.offset for p in parts}})

    def run(self, idle_exit_s: float | None = None) -> None:
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr="127.0.0.1")
        self.consumer.subscribe([self.s.detections_topic], on_assign=self._on_assign)
        log.info("projector started", extra={"topic": self.s.detections_topic})
        try:
            consume_loop(
                self.consumer, self._handle, self.stop_event, self.s.max_batch, self.s.max_wait_ms / 1000, idle_exit_s
            )
        finally:
            m.READY.set(0)
            self.consumer.close()
            self.dlq.flush(10)
            self.conn.close()
            log.info("projector stopped")

    def _handle(self, msgs: list[Message]) -> None:
        t0 = time.perf_counter()
        pairs: list[tuple[Message, DetectionsProduced]] = []
        offsets: dict[tuple[str, int], int] = {}
        for msg in msgs:
            offsets[(msg.topic() or "", msg.partition() or 0)] = (msg.offset() or 0) + 1
            try:
                pairs.append((msg, self.codec.decode(msg.value() or b"")))
            except SchemaError as e:
                self._dead_letter(msg, "avro-decode", e)
        events = self._write(pairs, offsets)
        if events:
            try:
                self.cache.update(events)
            except redis.RedisError as e:
                # Redis only caches what PostgreSQL holds; the next frame of each camera refreshes it.
                m.CACHE_ERRORS.inc()
                log.warning("Redis update failed; live cache is stale until the next frame", extra={"error": str(e)})
        self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=True)
        m.BATCH_SECONDS.observe(time.perf_counter() - t0)

    def _write(
        self, pairs: list[tuple[Message, DetectionsProduced]], offsets: dict[tuple[str, int], int]
    ) -> list[DetectionsProduced]:
        """Write a batch and its offsets; return the events written.

        A lost connection is retried with backoff after reconnecting (offsets live with the rows, so a retry
        never double-counts). A batch PostgreSQL rejects for its data is written event by event and each event
        it still rejects goes to the dead-letter topic, so one bad event never stops the projector.
        """
        delay = 0.5
        while True:
            try:
                stats = self.store.write([e for _, e in pairs], offsets)
                m.EVENTS.labels("new").inc(stats.frames_new)
                m.EVENTS.labels("duplicate").inc(stats.frames_duplicate)
                return [e for _, e in pairs]
            except (psycopg.DataError, psycopg.IntegrityError) as e:
                self.conn.rollback()
                log.warning("batch rejected by PostgreSQL; writing event by event", extra={"error": str(e)})
                return self._write_one_by_one(pairs, offsets)
            except psycopg.OperationalError as e:
                log.warning("PostgreSQL unavailable; retrying", extra={"error": str(e), "retry_in_s": delay})
                if self.stop_event.wait(delay):
                    raise ProjectionError(f"Stopped while PostgreSQL at {self.s.pg_dsn} was unavailable.") from e
                delay = min(delay * 2, 30.0)
                self._reconnect()

    def _write_one_by_one(
        self, pairs: list[tuple[Message, DetectionsProduced]], offsets: dict[tuple[str, int], int]
    ) -> list[DetectionsProduced]:
        written = []
        for msg, event in pairs:
            try:
                self.store.write([event], {})
                written.append(event)
            except (psycopg.DataError, psycopg.IntegrityError) as e:
                self.conn.rollback()
                self._dead_letter(msg, "pg-write", e)
        self.store.write([], offsets)
        return written

    def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        try:
            self.conn = psycopg.connect(self.s.pg_dsn)
        except psycopg.OperationalError:
            return  # the next write fails again and backs off further
        self.store = PgStore(self.conn, self.s.group_id)

    def _dead_letter(self, msg: Message, reason: str, error: Exception) -> None:
        m.DLQ_TOTAL.labels(reason).inc()
        self.dlq.produce(self.s.dlq_topic, key=msg.key(), value=dead_letter(msg, STAGE, reason, error))
        # The dead letter must be safe in Kafka before the offsets that skip its message are stored.
        if self.dlq.flush(30):
            raise ProjectionError(f"A dead letter was not acknowledged by Kafka at {self.s.kafka_bootstrap}.")
