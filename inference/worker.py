"""The inference runner: frames topic -> batched YOLO11 -> detections topic, exactly once.

Up to `pool.depth` model batches are in flight (two per session plus one, so sessions keep working while
this thread commits); finished batches are written strictly in the order they were consumed. Per batch:
  1. consume up to `max_batch` frames (waiting at most `max_wait_ms` once the first is there);
  2. decode Avro here; JPEG checks and decode, letterbox, model and NMS run in the pool (inference/pool.py);
  3. inside the open Kafka transaction: dead letters (with the reason) for anything that could not be
     detected, one DetectionsProduced per good frame, with its per-stage timings.
Every `commit_interval_ms` (or when idle, stopping or losing partitions) the transaction gets the consumed
offsets of everything written in it and is committed, so small, fast model batches do not each pay for a
transaction (Kafka Streams does the same with commit.interval.ms). A failed transaction is aborted, the
batches in it and in flight are dropped and the consumer rewinds to the last committed offsets, so each
frame yields exactly one committed detections event (or one dead letter).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from eventbus.batching import poll_batch
from eventbus.config import consumer_config, producer_config
from inference import metrics as m
from inference.backlog import Backlog
from inference.detector import FrameResult
from inference.errors import BadFrameError
from inference.pool import BatchResult, DetectorPool
from inference.settings import InferenceSettings
from inference.watchdog import CallWatchdog
from schemas import SchemaError, codec, dead_letter
from schemas.dlq import dlq_key
from schemas.events import Detection, DetectionsProduced, FrameCaptured, ModelInfo

__all__ = ["InferenceWorker"]

log = logging.getLogger(__name__)
STAGE = "inference"


@dataclass
class _Batch:
    msgs: list[Message]
    frames: list[tuple[Message, FrameCaptured]]
    consumed_at: datetime
    letters: list[tuple[Message, str, Exception]] = field(default_factory=list)
    future: Future[BatchResult] | None = None


class InferenceWorker:
    def __init__(self, settings: InferenceSettings, pool: DetectorPool) -> None:
        self.s = settings
        self.pool = pool
        detector = pool.first
        self.frames_codec = codec("FrameCaptured")
        self.det_codec = codec("DetectionsProduced")
        self.consumer = Consumer(
            consumer_config(
                settings.kafka_bootstrap, settings.group_id, **{"session.timeout.ms": settings.session_timeout_ms}
            )
        )
        self.producer = Producer(
            producer_config(
                settings.kafka_bootstrap,
                **{
                    "transactional.id": settings.transactional_id,
                    "transaction.timeout.ms": settings.transaction_timeout_ms,
                    "linger.ms": 2,
                },
            )
        )
        self.watchdog = CallWatchdog()
        meta = detector.backend.meta
        self.names = meta.class_names
        kept = detector.params.classes
        self.model_info: ModelInfo = {
            "name": detector.model_name,
            "version": meta.version,
            "sha256": meta.sha256,
            "backend": detector.backend.name,
            "precision": meta.precision,
            "imgsz": detector.imgsz,
            "class_names": [self.names[i] for i in kept] if kept is not None else list(self.names),
        }
        self.backlog = Backlog(self.consumer)
        self.pending: deque[_Batch] = deque()
        self.in_txn: list[_Batch] = []  # written into the open transaction, not yet committed
        self.txn_started = 0.0
        self.revocations = 0
        self.stop_event = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------------
    def run(self, idle_exit_s: float | None = None) -> None:
        """Process until stop() (or until no frame arrived for `idle_exit_s`, when given)."""
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr=self.s.metrics_host)
        self.producer.init_transactions(60)
        self.consumer.subscribe([self.s.frames_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info(
            "inference started",
            extra={
                "topic": self.s.frames_topic,
                "model": {k: v for k, v in self.model_info.items() if k != "class_names"},
                "classes": self.model_info["class_names"],
                "sessions": self.pool.size,
                "confidence": {"reported": self.s.conf, "low_tier_from": self.s.low_conf},
                "transactional_id": self.s.transactional_id,
            },
        )
        last = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if len(self.pending) < self.pool.depth:
                    # With batches in flight, only glance for more frames so finished ones are committed soon.
                    idle = 0.005 if self.pending else 0.5
                    revocations = self.revocations
                    msgs = poll_batch(self.consumer, self.s.max_batch, self.s.max_wait_ms / 1000, idle_s=idle)
                    if msgs and revocations != self.revocations:
                        # A rebalance happened inside this poll: some of these messages may come from before
                        # it. Drop them all and rewind what is still ours to the committed offsets (on_revoke
                        # committed everything before); the rest is read by its new owner.
                        self._rewind(msgs)
                        msgs = []
                    if msgs:
                        last = time.monotonic()
                        self.backlog.consumed(msgs)
                        self.pending.append(self._start(msgs))
                    elif not self.pending:
                        self.backlog.caught_up()
                self._write_ready()
                if self.in_txn and (not self.pending or self._txn_due()):
                    self._commit()
                if not self.pending and idle_exit_s is not None and time.monotonic() - last > idle_exit_s:
                    break
            self._write_ready(all_=True)
            self._commit()
        finally:
            m.READY.set(0)
            self.consumer.close()
            self.producer.flush(10)
            self.watchdog.close()
            self.pool.close()
            log.info("inference stopped")

    def stop(self) -> None:
        self.stop_event.set()

    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        m.READY.set(1)
        self.backlog.assigned(parts)
        log.info("partitions assigned", extra={"partitions": [p.partition for p in parts]})

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        # Finish what was consumed from these partitions while they are still ours.
        self.revocations += 1
        self._write_ready(all_=True)
        self._commit()
        self.backlog.revoked(parts)
        log.info("partitions revoked", extra={"partitions": [p.partition for p in parts]})

    # -- pipeline ----------------------------------------------------------------------------------
    def _start(self, msgs: list[Message]) -> _Batch:
        m.FRAMES_IN.inc(len(msgs))
        batch = _Batch(msgs=msgs, frames=[], consumed_at=datetime.now(UTC))
        for msg in msgs:
            try:
                batch.frames.append((msg, self.frames_codec.decode(msg.value() or b"")))
            except SchemaError as e:
                batch.letters.append((msg, "avro-decode", e))
        if batch.frames:
            batch.future = self.pool.submit([(f["image"], f["encoding"]) for _, f in batch.frames])
        return batch

    def _txn_due(self) -> bool:
        return (time.monotonic() - self.txn_started) * 1000 >= self.s.commit_interval_ms

    def _write_ready(self, all_: bool = False) -> None:
        """Write finished batches in consumption order; block on the oldest when `pool.depth` are in flight."""
        while self.pending:
            head = self.pending[0]
            busy = len(self.pending) >= self.pool.depth
            if not (all_ or busy or head.future is None or head.future.done()):
                return
            t0 = time.perf_counter()
            results = head.future.result() if head.future is not None else []
            m.STEP_SECONDS.labels("wait").observe(time.perf_counter() - t0)
            self.pending.popleft()
            try:
                if not self.in_txn:
                    self.producer.begin_transaction()
                    self.txn_started = time.monotonic()
                self.in_txn.append(head)
                self._produce_batch(head, results)
            except KafkaException as e:
                self._on_txn_error(e)
                return

    def _commit(self) -> None:
        """Commit the open transaction with the consumed offsets of every batch written into it."""
        if not self.in_txn:
            return
        try:
            t0 = time.perf_counter()
            msgs = [x for b in self.in_txn for x in b.msgs]
            offsets, group = _next_offsets(msgs), self.consumer.consumer_group_metadata()
            # past the transaction timeout the broker aborts the transaction anyway: waiting longer is futile
            wait_s = self.s.transaction_timeout_ms / 1000
            with self.watchdog.guard("send_offsets_to_transaction", wait_s):
                self.producer.send_offsets_to_transaction(offsets, group, wait_s)
            with self.watchdog.guard("commit_transaction", 60):
                self.producer.commit_transaction(60)
            m.STEP_SECONDS.labels("commit").observe(time.perf_counter() - t0)
            log.debug(
                "transaction committed", extra={"frames": len(msgs), "commit_ms": (time.perf_counter() - t0) * 1000}
            )
            self.in_txn.clear()
        except KafkaException as e:
            self._on_txn_error(e)

    def _on_txn_error(self, e: KafkaException) -> None:
        err = e.args[0]
        if not (err.txn_requires_abort() or err.retriable()):
            raise e
        m.TXN_ABORTS.inc()
        log.warning("transaction failed; rewinding to the last committed offsets", extra={"error": str(err)})
        if err.txn_requires_abort():
            with self.watchdog.guard("abort_transaction", 60):
                self.producer.abort_transaction(60)
        dropped = [*self.in_txn, *self.pending]
        self.in_txn.clear()
        self.pending.clear()
        for b in dropped:
            if b.future is not None:
                b.future.result()  # let the session finish before its frames are consumed again
        self._rewind([x for b in dropped for x in b.msgs])

    def _rewind(self, msgs: list[Message]) -> None:
        """Seek the partitions of `msgs` that are still assigned back to their committed offsets."""
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        keys = {(x.topic() or "", x.partition() or 0) for x in msgs} & owned
        if not keys:
            return
        parts = [TopicPartition(t, p) for t, p in keys]
        for tp in self.consumer.committed(parts, timeout=30):
            self.consumer.seek(
                TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            )

    def _produce_batch(self, batch: _Batch, results: BatchResult) -> None:
        for msg, reason, error in batch.letters:
            self._dead_letter(msg, reason, error)
        now = datetime.now(UTC)
        good = 0
        per_class: dict[str, int] = {}
        for (msg, frame), res in zip(batch.frames, results, strict=True):
            if isinstance(res, BadFrameError):
                self._dead_letter(msg, res.reason, res)
                continue
            event = self._event(frame, res, batch.consumed_at, now)
            self._produce(self.s.detections_topic, msg.key(), self.det_codec.encode(event))
            m.CAPTURE_TO_PRODUCED.observe(event["timings"]["total_ms"] / 1000)
            for det in event["detections"]:
                if det["confidence"] > self.s.conf:  # the reported ones, as read models count them
                    per_class[det["class_name"]] = per_class.get(det["class_name"], 0) + 1
            good += 1
        m.FRAMES_OUT.inc(good)
        for name, n in per_class.items():
            m.DETECTIONS_OUT.labels(name).inc(n)
        if good:
            m.BATCH_SIZE.observe(good)

    def _event(
        self, frame: FrameCaptured, res: FrameResult, consumed_at: datetime, now: datetime
    ) -> DetectionsProduced:
        dets: list[Detection] = [
            {
                "class_id": int(b[5]),
                "class_name": self.names[int(b[5])],
                "confidence": float(b[4]),
                "x1": float(b[0]),
                "y1": float(b[1]),
                "x2": float(b[2]),
                "y2": float(b[3]),
            }
            for b in res.boxes
        ]
        return {
            "camera_id": frame["camera_id"],
            "frame_seq": frame["frame_seq"],
            "captured_at": frame["captured_at"],
            "produced_at": now,
            "width": res.orig_shape[1],
            "height": res.orig_shape[0],
            "model": self.model_info,
            "detections": dets,
            "timings": {
                "queued_ms": max((consumed_at - frame["captured_at"]).total_seconds() * 1000, 0.0),
                "decode_ms": res.decode_ms,
                "preprocess_ms": res.preprocess_ms,
                "inference_ms": res.inference_ms,
                "postprocess_ms": res.postprocess_ms,
                "total_ms": max((now - frame["captured_at"]).total_seconds() * 1000, 0.0),
                "batch_size": res.batch_size,
            },
            # Passed on so analytics can count the frames of a run that never reached it (expired, dead-lettered).
            "run_start_seq": frame.get("run_start_seq"),
            "run_index": frame.get("run_index"),
            "report_confidence": self.s.conf,
        }

    def _dead_letter(self, msg: Message, reason: str, error: Exception) -> None:
        m.DLQ_TOTAL.labels(reason).inc()
        self._produce(self.s.dlq_topic, dlq_key(msg.key()), dead_letter(msg, STAGE, reason, error))

    def _produce(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, key=key, value=value)
                return
            except BufferError:
                self.producer.poll(0.05)


def _next_offsets(msgs: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for msg in msgs:
        key = (msg.topic() or "", msg.partition() or 0)
        last[key] = max(last.get(key, -1), msg.offset() or 0)
    return [TopicPartition(t, p, off + 1) for (t, p), off in last.items()]
