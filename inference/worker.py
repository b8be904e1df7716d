"""The inference runner: frames topic -> batched YOLO11 -> detections topic, exactly once.

Per batch, in one Kafka transaction:
  1. consume up to `max_batch` frames (waiting at most `max_wait_ms` once the first is there);
  2. decode Avro and JPEG; anything undecodable becomes a DeadLetter on the DLQ topic;
  3. run the detector on the good frames and produce one DetectionsProduced per frame;
  4. add the consumed offsets to the transaction and commit it.
A failed transaction is aborted and the consumer rewinds to the last committed offsets, so each frame
yields exactly one committed detections event (or one dead letter).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from prometheus_client import start_http_server

from inference import metrics as m
from inference.detector import Detector
from inference.errors import BadFrameError
from inference.preprocess import decode_jpeg
from inference.settings import InferenceSettings
from schemas import SchemaError, codec, dead_letter
from schemas.batching import consume_loop
from schemas.events import Detection, DetectionsProduced, FrameCaptured
from schemas.kafka import consumer_config, producer_config

__all__ = ["InferenceWorker"]

log = logging.getLogger(__name__)
STAGE = "inference"


class InferenceWorker:
    def __init__(self, settings: InferenceSettings, detector: Detector) -> None:
        self.s = settings
        self.detector = detector
        self.frames_codec = codec("FrameCaptured")
        self.det_codec = codec("DetectionsProduced")
        self.consumer = Consumer(
            consumer_config(settings.kafka_bootstrap, settings.group_id, **{"fetch.wait.max.ms": 10})
        )
        self.producer = Producer(
            producer_config(
                settings.kafka_bootstrap,
                **{"transactional.id": settings.transactional_id, "linger.ms": 2},
            )
        )
        self.model_info = {
            "name": detector.model_name,
            "sha256": detector.backend.sha256,
            "backend": detector.backend.name,
            "imgsz": detector.imgsz,
        }
        self.stop_event = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------------
    def run(self, idle_exit_s: float | None = None) -> None:
        """Process until stop() (or until no frame arrived for `idle_exit_s`, when given)."""
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr="127.0.0.1")
        self.producer.init_transactions(60)
        self.consumer.subscribe([self.s.frames_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("inference started", extra={"topic": self.s.frames_topic, "model": self.model_info})
        try:
            consume_loop(
                self.consumer,
                self._process_in_transaction,
                self.stop_event,
                self.s.max_batch,
                self.s.max_wait_ms / 1000,
                idle_exit_s,
            )
        finally:
            m.READY.set(0)
            self.consumer.close()
            self.producer.flush(10)
            log.info("inference stopped")

    def stop(self) -> None:
        self.stop_event.set()

    def _on_assign(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        m.READY.set(1)
        log.info("partitions assigned", extra={"partitions": [p.partition for p in parts]})

    def _on_revoke(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"partitions": [p.partition for p in parts]})

    # -- batching ----------------------------------------------------------------------------------

    # -- one transaction per batch -----------------------------------------------------------------
    def _process_in_transaction(self, msgs: list[Message]) -> None:
        try:
            self.producer.begin_transaction()
            self._process(msgs)
            t0 = time.perf_counter()
            offsets = _next_offsets(msgs)
            self.producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(60)
            m.STEP_SECONDS.labels("commit").observe(time.perf_counter() - t0)
            log.debug("batch committed", extra={"frames": len(msgs), "commit_ms": (time.perf_counter() - t0) * 1000})
        except KafkaException as e:
            err = e.args[0]
            if err.txn_requires_abort():
                m.TXN_ABORTS.inc()
                log.warning("transaction aborted; rewinding", extra={"error": str(err)})
                self.producer.abort_transaction(60)
                self._rewind(msgs)
            elif err.retriable():
                m.TXN_ABORTS.inc()
                log.warning("retriable transaction error; rewinding", extra={"error": str(err)})
                self._rewind(msgs)
            else:
                raise

    def _rewind(self, msgs: list[Message]) -> None:
        parts = [TopicPartition(t, p) for t, p in {(x.topic() or "", x.partition() or 0) for x in msgs}]
        for tp in self.consumer.committed(parts, timeout=30):
            self.consumer.seek(
                TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING)
            )

    def _process(self, msgs: list[Message]) -> None:
        m.FRAMES_IN.inc(len(msgs))
        t_decode = time.perf_counter()
        frames: list[tuple[Message, FrameCaptured, Any, float]] = []
        for msg in msgs:
            t0 = time.perf_counter()
            try:
                frame: FrameCaptured = self.frames_codec.decode(msg.value() or b"")
            except SchemaError as e:
                self._dead_letter(msg, "avro-decode", e)
                continue
            try:
                img = decode_jpeg(frame["image"])
            except BadFrameError as e:
                self._dead_letter(msg, "jpeg-decode", e)
                continue
            frames.append((msg, frame, img, (time.perf_counter() - t0) * 1000))
        m.STEP_SECONDS.labels("decode").observe(time.perf_counter() - t_decode)
        if not frames:
            return
        t0 = time.perf_counter()
        results = self.detector.detect([f[2] for f in frames])
        m.STEP_SECONDS.labels("detect").observe(time.perf_counter() - t0)
        m.BATCH_SIZE.observe(len(frames))
        t_produce = time.perf_counter()
        names = self.detector.backend.class_names
        now = datetime.now(UTC)
        for (msg, frame, _img, decode_ms), res in zip(frames, results, strict=True):
            dets: list[Detection] = [
                {
                    "class_id": int(b[5]),
                    "class_name": names[int(b[5])],
                    "confidence": float(b[4]),
                    "x1": float(b[0]),
                    "y1": float(b[1]),
                    "x2": float(b[2]),
                    "y2": float(b[3]),
                }
                for b in res.boxes
            ]
            event: DetectionsProduced = {
                "camera_id": frame["camera_id"],
                "frame_seq": frame["frame_seq"],
                "captured_at": frame["captured_at"],
                "produced_at": now,
                "width": res.orig_shape[1],
                "height": res.orig_shape[0],
                "model": self.model_info,  # type: ignore[typeddict-item]
                "detections": dets,
                "timings": {
                    "decode_ms": decode_ms,
                    "preprocess_ms": res.preprocess_ms,
                    "inference_ms": res.inference_ms,
                    "postprocess_ms": res.postprocess_ms,
                    "batch_size": res.batch_size,
                },
            }
            self._produce(self.s.detections_topic, msg.key(), self.det_codec.encode(event))
        m.FRAMES_OUT.inc(len(frames))
        m.STEP_SECONDS.labels("produce").observe(time.perf_counter() - t_produce)

    def _dead_letter(self, msg: Message, reason: str, error: Exception) -> None:
        m.DLQ_TOTAL.labels(reason).inc()
        log.warning(
            "message sent to dead-letter topic",
            extra={
                "reason": reason,
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "error": str(error),
            },
        )
        self._produce(self.s.dlq_topic, msg.key(), dead_letter(msg, STAGE, reason, error))

    def _produce(self, topic: str, key: Any, value: bytes) -> None:
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
