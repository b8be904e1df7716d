"""The ingest worker in fleet mode: follow this worker's share of the camera registry and keep exactly those
cameras running (start, restart on reconfiguration, stop when removed, disabled or moved to another worker)."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from confluent_kafka import Message
from prometheus_client import start_http_server

from schemas import dead_letter
from schemas.dlq import dlq_key
from schemas.events import CameraConfig
from streams.ingest import metrics as m
from streams.ingest.camera import CameraRunner, RunnerContext
from streams.ingest.encoder import EncoderPool
from streams.ingest.producer import FrameProducer
from streams.ingest.registry import RegistryFollower
from streams.ingest.settings import IngestSettings

__all__ = ["IngestFleet", "frame_producer", "runner_context"]

log = logging.getLogger(__name__)


def runner_context(s: IngestSettings, producer: FrameProducer, pool: EncoderPool, **overrides: Any) -> RunnerContext:
    fields: dict[str, Any] = {
        "producer": producer,
        "pool": pool,
        "frames_topic": s.frames_topic,
        "status_topic": s.camera_status_topic,
        "snapshots_topic": s.snapshots_topic,
        "snapshot_interval_s": s.snapshot_interval_s,
        "worker": s.worker_name,
        "open_timeout_s": s.open_timeout_s,
        "read_timeout_s": s.read_timeout_s,
        "max_lag_s": s.max_lag_s,
        "decode_threads": s.decode_threads,
        "backoff_min_s": s.backoff_min_s,
        "backoff_max_s": s.backoff_max_s,
        "status_window_s": s.status_window_s,
    }
    fields.update(overrides)
    return RunnerContext(**fields)


def frame_producer(s: IngestSettings) -> FrameProducer:
    return FrameProducer(
        s.kafka_bootstrap, max_messages=s.queue_max_messages, max_kbytes=s.queue_max_kbytes, frames_topic=s.frames_topic
    )


class IngestFleet:
    def __init__(self, settings: IngestSettings) -> None:
        self.s = settings
        self.producer = frame_producer(settings)
        self.pool = EncoderPool(settings.encoder_threads or os.cpu_count() or 1)
        self.ctx = runner_context(settings, self.producer, self.pool)
        self.follower = RegistryFollower(
            settings.kafka_bootstrap,
            settings.cameras_topic,
            settings.group_id,
            session_timeout_ms=settings.session_timeout_ms,
            on_poison=self._poison,
        )
        self.runners: dict[str, CameraRunner] = {}
        self._stop = threading.Event()
        self._stopping: list[CameraRunner] = []

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        if self.s.metrics_port:
            start_http_server(self.s.metrics_port, addr=self.s.metrics_host)
        log.info(
            "ingest worker started",
            extra={"worker": self.s.worker_name, "registry": self.s.cameras_topic, "group": self.s.group_id},
        )
        next_tick = time.monotonic() + 1.0
        try:
            while not self._stop.is_set():
                if self.follower.poll(0.2):
                    self.reconcile(self.follower.desired())
                if time.monotonic() >= next_tick:
                    next_tick += 1.0
                    for r in list(self.runners.values()):
                        r.tick()
                    self._reap()
        finally:
            self.shutdown()

    def reconcile(self, desired: dict[str, CameraConfig]) -> None:
        """Make the running cameras equal `desired` (enabled ones); report DISABLED for operator stops."""
        wanted = {cid: cfg for cid, cfg in desired.items() if cfg["enabled"]}
        removed = self.follower.drain_tombstoned()
        for cid, runner in list(self.runners.items()):
            cfg = desired.get(cid)
            if cid in wanted and runner.same_reading(wanted[cid]):
                runner.cfg = wanted[cid]  # lines, zones, name: nothing to restart
                continue
            if cfg is None:
                # removed by a tombstone; otherwise its partition moved to another worker, which reports it
                reason = "removed" if cid in removed else None
            else:
                reason = "disabled" if not cfg["enabled"] else None  # None: reconfigured, restarted below
            self._stop_runner(cid, reason)
        for cid, cfg in wanted.items():
            if cid not in self.runners:
                runner = CameraRunner(cfg, self.ctx)
                self.runners[cid] = runner
                runner.start()
        m.CAMERAS.set(len(self.runners))

    def _stop_runner(self, camera_id: str, reason: str | None) -> None:
        runner = self.runners.pop(camera_id)
        runner.stop(reason)
        self._stopping.append(runner)
        log.info("camera stopped", extra={"camera_id": camera_id, "reason": reason or "moved or reconfigured"})

    def _reap(self) -> None:
        still = []
        for r in self._stopping:
            if r.alive:
                still.append(r)
            elif r.camera_id not in self.runners:
                m.forget_camera(r.camera_id)
        self._stopping[:] = still

    def _poison(self, msg: Message, error: Exception) -> None:
        value = dead_letter(msg, "ingest-registry", type(error).__name__, error)
        self.producer.send(self.s.dlq_topic, (dlq_key(msg.key()) or b"").decode(errors="replace"), value)

    def shutdown(self) -> None:
        """Graceful: stop every camera, flush what was produced, then leave the group (others take over)."""
        for cid in list(self.runners):
            self._stop_runner(cid, None)
        deadline = time.monotonic() + max(self.s.read_timeout_s, self.s.open_timeout_s) + 1
        for r in self._stopping:
            r.join(max(0.0, deadline - time.monotonic()))
        self.pool.close()
        left = self.producer.close(30)
        self.follower.close()
        log.info("ingest worker stopped", extra={"worker": self.s.worker_name, "unacknowledged": left})
