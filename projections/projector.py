"""The projector runner: every event topic -> PostgreSQL read models (+ offsets) -> Redis caches.

Per batch:
  1. consume up to `max_batch` events of all topics; undecodable ones go to the DLQ topic (and are acknowledged);
  2. write rows and the next offsets in one PostgreSQL transaction (store.PgStore.write); the offsets are a
     compare-and-set (fencing.OffsetFence): when another worker wrote them the batch is rolled back, the stored
     offsets are re-read and the consumer seeks there;
  3. update Redis (idempotent) and publish the batch's events, after the commit;
  4. commit the same offsets to Kafka, asynchronously, only so lag is visible to KEDA and operators.
On partition assignment the consumer seeks to the offsets stored in PostgreSQL, not Kafka's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import redis
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from eventbus.batching import poll_batch
from eventbus.config import consumer_config, producer_config
from eventbus.watermarks import read_until
from projections import metrics as m
from projections.batch import Batch, Rejected, decode_batch, decode_message
from projections.cache import CacheRepair, LiveCache, missing_keys
from projections.db import connect
from projections.errors import ProjectionError
from projections.fencing import Fenced, OffsetFence
from projections.purge import purge_redis, purged_cameras
from projections.rediskit import check_sync, sync_client
from projections.settings import ProjectorSettings
from projections.snapshots import StillBlurrer, blur_settings_from_pg
from projections.store import BatchStats, PgStore
from schemas import dead_letter
from schemas.dlq import dlq_key

__all__ = ["Projector"]

log = logging.getLogger(__name__)
STAGE = "projector"
Key = tuple[str, int]


def _no_partition(e: psycopg.Error) -> bool:
    return isinstance(e, psycopg.errors.CheckViolation) and "no partition" in str(e)


class Projector:
    """With `replay=True` (rebuilds, benchmarks) it reads assigned partitions without group membership, commits
    nothing to Kafka and leaves Redis alone; offsets still go to PostgreSQL under `settings.group_id`."""

    def __init__(self, settings: ProjectorSettings, *, replay: bool = False) -> None:
        self.s = settings
        self.replay = replay
        self.kinds = settings.topics(snapshots=not replay)
        if not self.kinds:
            raise ProjectionError("Every topic setting is empty: set at least one ITS_PROJECTOR_*_TOPIC.")
        self.conn = connect(settings.pg_dsn.get_secret_value(), settings.pg_schema)
        self.fence = OffsetFence(settings.group_id)
        self.store = PgStore(self.conn, settings.group_id, self.fence)
        self.cache: LiveCache | None = None
        self.stills: StillBlurrer | None = None  # stills published only once their persons are blurred
        self.repair = CacheRepair()
        if settings.update_redis and not replay:
            url = settings.redis_url.get_secret_value()
            client = sync_client(url, socket_connect_timeout=5.0, socket_timeout=10.0)
            try:  # wrong credentials or a failed TLS handshake stop the start-up, naming the setting
                check_sync(client, url, "ITS_REDIS_URL")
            except ProjectionError:
                client.close()
                self.conn.close()
                raise
            self.cache = LiveCache(client, settings.events_channel)
            self.stills = StillBlurrer(client, settings.snapshot_ttl_s, lambda c: blur_settings_from_pg(self.conn)(c))
        group = f"{settings.group_id}-replay-{uuid.uuid4().hex[:8]}" if replay else settings.group_id
        extra: dict[str, object] = {"session.timeout.ms": settings.session_timeout_ms}
        if replay:
            extra["enable.partition.eof"] = True
        self.consumer = Consumer(consumer_config(settings.kafka_bootstrap, group, **extra))
        self.dlq = Producer(producer_config(settings.kafka_bootstrap))
        self.stop_event = threading.Event()

    def stop(self) -> None:
        self.stop_event.set()

    # -- assignment --------------------------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        stored = self._stored([(p.topic, p.partition) for p in parts])
        for p in parts:
            # Stills are only ever wanted new (each replaces the last one kept): never replay their backlog.
            fresh = p.topic == self.s.snapshots_topic
            p.offset = OFFSET_END if fresh else stored.get((p.topic, p.partition), OFFSET_BEGINNING)
        consumer.assign(parts)
        m.READY.set(1)
        log.info("partitions assigned", extra={"offsets": {f"{p.topic}/{p.partition}": p.offset for p in parts}})

    def _stored(self, keys: list[Key]) -> dict[Key, int]:
        """The offsets stored for `keys`, waiting out a PostgreSQL restart like a write does (a chaos run found an
        assignment during one crashing the projector: AdminShutdown raised through the consumer's poll)."""
        delay = 0.5
        while True:
            try:
                return self.fence.load(self.conn, keys)
            except psycopg.OperationalError as e:
                delay = self._wait_for_pg(e, delay)

    def _wait_for_pg(self, e: psycopg.OperationalError, delay: float) -> float:
        """Wait `delay` s (stopping ends the wait with an error), reconnect, and return the next, longer delay."""
        log.warning("PostgreSQL unavailable; retrying", extra={"error": str(e), "retry_in_s": delay})
        if self.stop_event.wait(delay):
            raise ProjectionError("Stopped while PostgreSQL (ITS_PG_DSN) was unavailable.") from e
        self._reconnect()
        return min(delay * 2, 30.0)

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        self.fence.drop([(p.topic, p.partition) for p in parts])

    def _reseek(self) -> None:
        """After a fenced batch: expect what is stored now and read on from there."""
        keys = list(self.fence.expected)
        stored = self._stored(keys)
        self.store.partitions.forget()
        for t, p in keys:
            off = stored.get((t, p), OFFSET_BEGINNING)
            try:
                self.consumer.seek(TopicPartition(t, p, off))
            except KafkaException as e:  # the partition is no longer ours; the rebalance settles it
                log.warning("seek failed", extra={"topic": t, "partition": p, "error": str(e)})
        log.warning(
            "re-seeked to the stored offsets", extra={"offsets": {f"{t}/{p}": o for (t, p), o in stored.items()}}
        )

    # -- running -----------------------------------------------------------------------------------------------
    def run(self, idle_exit_s: float | None = None) -> None:
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr=self.s.metrics_host)
        topics = list(self.kinds)
        self.consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("projector started", extra={"topics": topics, "schema": self.s.pg_schema})
        try:
            self._loop(idle_exit_s)
        finally:
            self.close()

    def _loop(self, idle_exit_s: float | None) -> None:
        """Batches until stopped (or idle for `idle_exit_s`); while idle, check every `fence_check_s` that the
        stored offsets are still the expected ones (a rebuild may have swapped the tables) and re-seek if not; busy
        or idle, every `fence_check_s`, that Redis still has the keys PostgreSQL says it should."""
        last_batch = last_check = last_keys = time.monotonic()
        while not self.stop_event.is_set():
            msgs = poll_batch(self.consumer, self.s.max_batch, self.s.max_wait_ms / 1000)
            now = time.monotonic()
            if now - last_keys > self.s.fence_check_s:  # busy or not: a quiet camera's keys can be lost too
                last_keys = now
                self._check_cache()
            if msgs:
                last_batch = last_check = now
                self.handle_batch(msgs)
                continue
            if idle_exit_s is not None and now - last_batch > idle_exit_s:
                return
            self._repair_cache()
            if now - last_check > self.s.fence_check_s:
                last_check = now
                try:
                    if self.fence.stale(self.conn):
                        m.FENCED.inc()
                        log.warning("stored offsets changed under this worker (rebuild or another worker)")
                        self._reseek()
                except psycopg.OperationalError as e:
                    log.warning("offset check failed; retrying later", extra={"error": str(e)})
                    self._reconnect()

    def replay_to(self, ends: dict[Key, int], progress: Callable[[int], None] | None = None) -> None:
        """Read the partitions of `ends` from their stored offsets (else the beginning) up to the end offsets
        (exclusive) and project them; returns once every partition got there. Needs `replay=True`."""
        stored = self.fence.load(self.conn, list(ends))
        for batch in read_until(
            self.consumer,
            ends,
            bootstrap=self.s.kafka_bootstrap,
            starts=stored,
            max_batch=self.s.max_batch,
            stop=self.stop_event,
        ):
            self.handle_batch(batch)
            if progress:
                progress(len(batch))

    def close(self) -> None:
        m.READY.set(0)
        with contextlib.suppress(Exception):
            self.consumer.close()
        self.dlq.flush(10)
        self.conn.close()
        if self.cache is not None:
            self.cache.client.close()
        log.info("projector stopped")

    # -- one batch ---------------------------------------------------------------------------------------------
    def handle_batch(self, msgs: list[Message]) -> None:
        t0 = time.perf_counter()
        batch, rejected, offsets = decode_batch(msgs, self.kinds)
        for r in rejected:
            self._dead_letter(r)
        try:
            stats = self._write(batch, offsets, msgs)
        except Fenced as e:
            m.FENCED.inc()
            log.warning("batch fenced: another worker wrote these offsets", extra={"error": str(e)})
            self._reseek()
            return
        if self.cache is not None:
            self._repair_cache()  # before this batch: its (committed) events are then in the rebuilt keys
            new_ids = {id(v) for v in stats.new_vehicles}
            try:
                lost = self.cache.update(
                    stats.new_frames,
                    batch.statuses,
                    stats.new_vehicles,
                    [v for v in batch.vehicles if id(v) not in new_ids],
                    stats.incidents,
                    counted_before=stats.counted_before,
                )
                if lost:
                    self._lost_keys(lost)
                if self.stills is not None:
                    self.stills.handle(batch.snapshots, batch.detections)
                purge_redis(self.cache.client, purged_cameras(batch.cameras))  # DELETE ?purge=true
            except redis.RedisError as e:
                # Redis only caches what PostgreSQL holds (committed above): the batch's cameras are rebuilt from
                # PostgreSQL on the next successful Redis contact, so their counters are never silently short.
                m.CACHE_ERRORS.inc()
                cams = self.repair.mark(
                    batch.detections,
                    batch.statuses,
                    [v for v, _, _ in batch.vehicles],
                    purged_cameras(batch.cameras),
                )
                log.warning(
                    "Redis update failed; the cameras' keys are rebuilt from PostgreSQL once Redis answers",
                    extra={"error": type(e).__name__, "cameras": len(cams), "dirty": len(self.repair.dirty)},
                )
        if not self.replay:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=True)
        m.BATCH_SECONDS.observe(time.perf_counter() - t0)

    def _lost_keys(self, cams: set[str]) -> None:
        """Cameras whose Redis keys are gone (flushed, or Redis restarted empty): rebuilt from PostgreSQL."""
        m.CACHE_ERRORS.inc()
        self.repair.mark(cameras=cams)
        log.warning(
            "Redis lost the keys of cameras PostgreSQL has (flushed or restarted empty); rebuilding them from "
            "PostgreSQL",
            extra={"cameras": len(cams)},
        )

    def _check_cache(self) -> None:
        """Find cameras whose keys Redis lost (since their last event, or while this worker was down): rebuilt."""
        if self.cache is None:
            return
        try:
            lost = missing_keys(self.conn, self.cache.client)
        except (redis.RedisError, psycopg.Error) as e:
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
            log.debug("Redis key check not done; retrying later", extra={"error": type(e).__name__})
            return
        if lost:
            self._lost_keys(lost)

    def _repair_cache(self) -> None:
        """Rebuild the keys of the cameras whose Redis update failed, from PostgreSQL, when a retry is due."""
        if self.cache is None or not self.repair.due():
            return
        n = len(self.repair.dirty)
        try:
            self.repair.repair(self.conn, self.cache.client)
        except (redis.RedisError, psycopg.Error) as e:
            m.CACHE_REPAIRS.labels("failed").inc(n)
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
            log.debug("Redis repair not done yet; retrying", extra={"error": type(e).__name__, "dirty": n})
            return
        m.CACHE_REPAIRS.labels("repaired").inc(n)
        log.warning("Redis keys rebuilt from PostgreSQL after a failed update", extra={"cameras": n})

    def _write(self, batch: Batch, offsets: dict[Key, int], msgs: list[Message]) -> BatchStats:
        """Write a batch and its offsets.

        A lost connection is retried with backoff after reconnecting (offsets live with the rows and are a
        compare-and-set, so a retry never double-counts). A missing day partition (dropped by retention or a table
        swap) is re-created once. A batch PostgreSQL still rejects for its data is written event by event and each
        event it rejects goes to the dead-letter topic, so one bad event never stops the projector.
        """
        delay = 0.5
        recreated = False
        while True:
            try:
                stats = self.store.write(batch, offsets)
                m.EVENTS.labels("new").inc(stats.frames_new)
                m.EVENTS.labels("duplicate").inc(stats.frames_duplicate)
                return stats
            except (psycopg.DataError, psycopg.IntegrityError) as e:
                self.conn.rollback()
                if _no_partition(e) and not recreated:
                    recreated = True
                    self.store.partitions.forget()
                    continue
                log.warning("batch rejected by PostgreSQL; writing event by event", extra={"error": str(e)})
                return self._write_one_by_one(msgs, offsets)
            except psycopg.OperationalError as e:
                delay = self._wait_for_pg(e, delay)

    def _write_one_by_one(self, msgs: list[Message], offsets: dict[Key, int]) -> BatchStats:
        total = BatchStats(0, 0, 0)
        for msg in msgs:
            one = decode_message(msg, self.kinds)
            if isinstance(one, Rejected):
                continue  # already dead-lettered
            try:
                st = self.store.write(one, {})
            except (psycopg.DataError, psycopg.IntegrityError) as e:
                self.conn.rollback()
                self._dead_letter(Rejected(msg, "pg-write", e))
                continue
            total.frames_new += st.frames_new
            total.frames_duplicate += st.frames_duplicate
            total.detections += st.detections
            total.new_frames += st.new_frames
            total.new_vehicles += st.new_vehicles
            total.incidents += st.incidents
        self.store.write(Batch(), offsets)
        return total

    def _reconnect(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
        try:
            self.conn = connect(self.s.pg_dsn.get_secret_value(), self.s.pg_schema)
        except ProjectionError:
            return  # the next write fails again and backs off further
        self.store = PgStore(self.conn, self.s.group_id, self.fence)

    def _dead_letter(self, r: Rejected) -> None:
        m.DLQ_TOTAL.labels(r.reason).inc()
        self.dlq.produce(self.s.dlq_topic, key=dlq_key(r.msg.key()), value=dead_letter(r.msg, STAGE, r.reason, r.error))
        # The dead letter must be safe in Kafka before the offsets that skip its message are stored.
        if self.dlq.flush(30):
            raise ProjectionError(f"A dead letter was not acknowledged by Kafka at {self.s.kafka_bootstrap}.")
