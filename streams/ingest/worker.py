"""The ingest runner for one camera: source -> sampler -> JPEG -> its.frames.v1 (key camera_id)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import start_http_server

from schemas import codec
from schemas.events import FrameCaptured
from schemas.kafka import producer_config
from streams.ingest import metrics as m
from streams.ingest.errors import IngestError
from streams.ingest.sampler import FpsSampler
from streams.ingest.settings import IngestSettings
from streams.ingest.source import open_frames, redact

__all__ = ["IngestResult", "IngestWorker", "camera_id_for"]

log = logging.getLogger(__name__)


def camera_id_for(source: str) -> str:
    """A default camera id from a source: the file or last path segment without extension."""
    stem = Path(source.split("?")[0].rstrip("/")).stem
    return stem or "camera"


@dataclass
class IngestResult:
    camera_id: str
    source: str
    frames: int
    decoded: int
    first_captured_at: datetime | None
    last_captured_at: datetime | None


class IngestWorker:
    def __init__(self, settings: IngestSettings) -> None:
        if not settings.source:
            raise IngestError("No camera source given: pass --source PATH-OR-URL or set ITS_INGEST_SOURCE.")
        self.s = settings
        self.camera_id = settings.camera_id or camera_id_for(settings.source)
        self.codec = codec("FrameCaptured")
        self.producer = Producer(producer_config(settings.kafka_bootstrap))
        self.stop_event = threading.Event()
        self._delivery_error: KafkaError | None = None

    def stop(self) -> None:
        self.stop_event.set()

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._delivery_error = err

    def run(self) -> IngestResult:
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr="127.0.0.1")
        sampler = FpsSampler(self.s.fps)
        params = [cv2.IMWRITE_JPEG_QUALITY, self.s.jpeg_quality]
        source = redact(self.s.source)
        res = IngestResult(self.camera_id, source, 0, 0, None, None)
        log.info("ingest started", extra={"camera_id": self.camera_id, "source": source, "fps": self.s.fps})
        decoded = m.DECODED.labels(self.camera_id)
        produced = m.PRODUCED.labels(self.camera_id)
        for df in open_frames(self.s.source, realtime=self.s.realtime, decode_threads=self.s.decode_threads):
            if self.stop_event.is_set():
                break
            res.decoded += 1
            decoded.inc()
            if not sampler.accept(df.t):
                continue
            img = df.bgr()
            t0 = time.perf_counter()
            ok, jpeg = cv2.imencode(".jpg", img, params)
            m.ENCODE_SECONDS.observe(time.perf_counter() - t0)
            if not ok:
                raise IngestError(f"JPEG encoding failed for camera {self.camera_id} frame {res.frames}.")
            now = datetime.now(UTC)
            event: FrameCaptured = {
                "camera_id": self.camera_id,
                "frame_seq": res.frames,
                "captured_at": now,
                "source_pts_us": df.pts_us,
                "width": int(img.shape[1]),
                "height": int(img.shape[0]),
                "encoding": "jpeg",
                "image": jpeg.tobytes(),
                "source": source,
            }
            self._produce(self.codec.encode(event))
            res.first_captured_at = res.first_captured_at or now
            res.last_captured_at = now
            res.frames += 1
            produced.inc()
            if self.s.max_frames and res.frames >= self.s.max_frames:
                break
        left = self.producer.flush(60)
        if left or self._delivery_error is not None:
            raise IngestError(
                f"{left} frame(s) of camera {self.camera_id} were not acknowledged by Kafka at "
                f"{self.s.kafka_bootstrap} ({self._delivery_error}). Check the broker with `itscam stack status`."
            )
        log.info("ingest finished", extra={"camera_id": self.camera_id, "frames": res.frames, "decoded": res.decoded})
        return res

    def _produce(self, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(
                    self.s.frames_topic, key=self.camera_id.encode(), value=value, on_delivery=self._on_delivery
                )
                self.producer.poll(0)
                return
            except BufferError:
                self.producer.poll(0.05)
