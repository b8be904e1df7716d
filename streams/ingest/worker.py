"""One-shot ingest (`itscam ingest --source`): read one source through the same reader, sampler, encoder and
producer as the fleet, without the registry. Files are read as fast as the encoder takes them (nothing dropped),
or at their own pace with `realtime`; live URLs are read like any camera until stopped."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from prometheus_client import start_http_server

from schemas.cameras import camera_config
from schemas.credentials import display_url
from streams.ingest.camera import CameraRunner, source_spec
from streams.ingest.encoder import EncoderPool
from streams.ingest.errors import IngestError
from streams.ingest.fleet import frame_producer, runner_context
from streams.ingest.settings import IngestSettings
from streams.ingest.source import is_live

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
    dropped: int = 0  # by policy (live sources: encoder busy, reader lagging), Kafka queue full, or not encodable


class IngestWorker:
    def __init__(self, settings: IngestSettings) -> None:
        if not settings.source:
            raise IngestError("No camera source given: pass --source PATH-OR-URL or set ITS_INGEST_SOURCE.")
        self.s = settings
        self.camera_id = settings.camera_id or camera_id_for(settings.source)
        live = is_live(settings.source)
        self.producer = frame_producer(settings)
        self.pool = EncoderPool(settings.encoder_threads or os.cpu_count() or 1)
        ctx = runner_context(
            settings,
            self.producer,
            self.pool,
            anchored_seq=False,
            block_when_busy=not live,
            once=not live,
        )
        cfg = camera_config(
            self.camera_id,
            settings.source,
            target_fps=settings.fps if settings.fps > 0 else 60.0,
            jpeg_quality=settings.jpeg_quality,
            max_width=0,
            max_height=0,
            decode="ALL",
        )
        # fps 0 keeps every frame; a file is paced only when asked (`realtime`)
        spec = replace(source_spec(cfg, ctx), fps=settings.fps, realtime=settings.realtime and not live)
        self.runner = CameraRunner(cfg, ctx, max_frames=settings.max_frames, spec=spec)

    def stop(self) -> None:
        self.runner.stop()

    def run(self) -> IngestResult:
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr=self.s.metrics_host)
        source = display_url(self.s.source)
        log.info("ingest started", extra={"camera_id": self.camera_id, "source": source, "fps": self.s.fps})
        self.runner.start()
        self.runner.join()
        self.pool.close()
        # Every frame is with the producer: say the camera's reading ended (DISABLED, reason "ended", with the
        # capture time of its last frame), so analytics closes its open 1-minute window once that frame is in.
        self.runner.stop("ended")
        left = self.producer.close(60)
        err = self.runner.last_error
        if err is not None and self.runner.sent == 0:
            raise err
        if left or self.producer.failed:
            raise IngestError(
                f"{left + self.producer.failed} message(s) of camera {self.camera_id} were not acknowledged by Kafka "
                f"at {self.s.kafka_bootstrap}. Check the broker with `itscam stack status`."
            )
        res = IngestResult(
            self.camera_id,
            source,
            self.runner.sent,
            self.runner.decoded,
            self.runner.first_frame_at,
            self.runner.last_frame_at,
            self.runner.dropped,
        )
        log.info("ingest finished", extra={"camera_id": self.camera_id, "frames": res.frames, "decoded": res.decoded})
        return res
