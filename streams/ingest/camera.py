"""One camera on an ingest worker: a reader thread (source -> sampler -> slot) that reconnects with backoff and
reports health, and the encode step the pool runs for it (scale -> JPEG -> FrameCaptured -> Kafka)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import codec
from schemas.cameras import redact
from schemas.credentials import UnsealError, display_url, source_url_for
from schemas.events import CameraConfig, CameraStatusChanged, FrameCaptured
from schemas.source_policy import SourcePolicy
from streams.ingest import metrics as m
from streams.ingest.backoff import Backoff
from streams.ingest.encoder import EncoderPool, encode_frame
from streams.ingest.errors import SourceError, classify
from streams.ingest.frames import DecodedFrame
from streams.ingest.masks import Polygon, privacy_masks
from streams.ingest.producer import FrameProducer
from streams.ingest.sampler import FrameSeq
from streams.ingest.source import ReadStats, SourceSpec, open_source, resolve_protocol
from streams.ingest.status import StatusChange, StatusTracker

__all__ = ["CameraRunner", "RunnerContext", "source_spec"]

log = logging.getLogger(__name__)

# Fields of CameraConfig that change how the camera is read; others (lines, zones, name...) do not restart it.
READ_FIELDS = (
    "source_url",
    "source_secret",
    "protocol",
    "target_fps",
    "max_width",
    "max_height",
    "jpeg_quality",
    "decode",
    "loop",
)


@dataclass(frozen=True)
class RunnerContext:
    """What every camera of a worker shares."""

    producer: FrameProducer
    pool: EncoderPool
    frames_topic: str
    status_topic: str
    worker: str
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    max_lag_s: float = 2.0
    decode_threads: int = 1
    backoff_min_s: float = 0.5
    backoff_max_s: float = 10.0
    status_window_s: float = 10.0
    anchored_seq: bool = True  # frame_seq anchored to the wall clock (registry cameras) or counted from 0
    block_when_busy: bool = False  # one-shot file ingest: wait for the encoder instead of dropping frames
    once: bool = False  # one-shot: a source that ends is done, not reconnected
    snapshots_topic: str = ""  # a still of the camera every snapshot_interval_s of capture time ("": none)
    snapshot_interval_s: float = 5.0
    source_policy: SourcePolicy | None = None  # checked at every connect; None: ITS_SOURCE_* from the environment


def source_spec(cfg: CameraConfig, ctx: RunnerContext) -> SourceSpec:
    """How to read the camera; its URL is source_secret unsealed (ITS_INGEST_SEAL_PRIVATE_KEY), UnsealError if that
    fails, or source_url when nothing is sealed."""
    protocol = resolve_protocol(cfg["source_url"], cfg["protocol"])
    return SourceSpec(
        url=source_url_for(cfg),
        protocol=protocol,
        fps=cfg["target_fps"],
        decode=cfg["decode"],
        loop=cfg["loop"],
        # A file in the registry stands in for a camera: deliver it at its own pace.
        realtime=protocol == "FILE" and not ctx.once,
        open_timeout_s=ctx.open_timeout_s,
        read_timeout_s=ctx.read_timeout_s,
        max_lag_s=0.0 if ctx.once else ctx.max_lag_s,
        decode_threads=ctx.decode_threads,
        policy=ctx.source_policy,
    )


@dataclass
class _Pending:
    frame: DecodedFrame
    captured_at: datetime


class CameraRunner:
    """Reads one camera until stopped. Thread-safe: the reader thread, the encoder pool and the worker's control
    loop (tick/stop) all touch it."""

    def __init__(
        self,
        cfg: CameraConfig,
        ctx: RunnerContext,
        *,
        max_frames: int = 0,
        on_frame: Callable[[FrameCaptured], None] | None = None,
        spec: SourceSpec | None = None,
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.camera_id = cfg["camera_id"]
        self.source = display_url(cfg["source_url"])
        self.unseal_error: str | None = None  # the sealed credentials do not open: reported, nothing is opened
        if spec is None:
            try:
                spec = source_spec(cfg, ctx)
            except UnsealError as e:
                self.unseal_error = str(e)
                spec = source_spec({**cfg, "source_secret": None}, ctx)  # never opened
        self.spec = spec
        self.max_frames = max_frames
        self.on_frame = on_frame
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._queued = False
        self._seq = FrameSeq(anchored=ctx.anchored_seq)
        self._masks: tuple[CameraConfig | None, tuple[Polygon, ...]] = (None, ())
        self._snapshot_t = -math.inf  # capture time of the last still sent
        self._tracker = StatusTracker(expected_fps=cfg["target_fps"], window_s=ctx.status_window_s)
        self.stats = ReadStats()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.camera_id}", daemon=True)
        self._codec = codec("FrameCaptured")
        self._status_codec = codec("CameraStatusChanged")
        # counters for status events and results (metrics hold the same per camera)
        self.captured = 0
        self.dropped = 0
        self.sent = 0
        self.reconnects = 0
        self.decoded = 0
        self.last_frame_at: datetime | None = None
        self.first_frame_at: datetime | None = None
        self.last_error: SourceError | None = None
        self._m_decoded = m.DECODED.labels(self.camera_id)
        self._m_decode_s = m.DECODE_SECONDS.labels(self.camera_id)
        self._m_captured = m.CAPTURED.labels(self.camera_id)
        self._m_reconnects = m.RECONNECTS.labels(self.camera_id)
        m.STATUS.labels(self.camera_id).state("STARTING")

    # -- control ----------------------------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "camera started",
            extra={"camera_id": self.camera_id, "source": self.source, "protocol": self.spec.protocol},
        )
        self._thread.start()

    def stop(self, reason: str | None = None) -> None:
        """Stop reading. `reason` ('disabled', 'removed') reports DISABLED; None (handing over) reports nothing."""
        self._stop.set()
        with self._lock:
            # Frames not yet encoded are dropped (counted): the camera's next reader, here or on another worker,
            # must not be overtaken by them on the partition.
            if not self.ctx.block_when_busy and self._pending:
                self._drop(len(self._pending), "stopped")
                self._pending.clear()
            self._lock.notify_all()
        if reason is not None:
            with self._lock:
                change = self._tracker.disabled(time.monotonic(), datetime.now(UTC), reason)
            if change:
                self._emit(change)

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def tick(self) -> None:
        """Re-evaluate health (about once a second, from the worker's control loop)."""
        with self._lock:
            change = self._tracker.tick(time.monotonic(), datetime.now(UTC))
        if change:
            self._emit(change)

    def same_reading(self, cfg: CameraConfig) -> bool:
        return all(cfg.get(f) == self.cfg.get(f) for f in READ_FIELDS)

    # -- reader thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        if self.unseal_error is not None:
            # Retrying cannot help: the camera waits for a configuration (or a key) it can open.
            self._failed("unseal_failed", f"Camera {self.camera_id}: {self.unseal_error}")
            self._stop.wait()
            return
        backoff = Backoff(self.ctx.backoff_min_s, self.ctx.backoff_max_s)
        while not self._stop.is_set():
            self.stats = stats = ReadStats(on_lag=self._on_lag)
            decoded_seen, decode_s_seen = 0, 0.0
            try:
                for df in open_source(self.spec, self._stop, stats):
                    if stats.nominal_fps:
                        self._tracker.expected_fps = min(self.cfg["target_fps"], stats.nominal_fps)
                    self._m_decoded.inc(stats.decoded - decoded_seen)
                    self.decoded += stats.decoded - decoded_seen
                    self._m_decode_s.inc(stats.decode_s - decode_s_seen)
                    decoded_seen, decode_s_seen = stats.decoded, stats.decode_s
                    backoff.reset()
                    self._offer(df)
                    if self._stop.is_set():
                        break
                if self._stop.is_set() or self.ctx.once:
                    break
                raise SourceError(f"Camera source {self.source} ended; it is read again after a pause.", "ended")
            except SourceError as e:
                self._failed(e.reason, str(e))
                self.last_error = e
                if self.ctx.once:
                    break
            except Exception as e:  # a bug or an unexpected driver error must not kill the camera for good
                log.exception("camera reader failed", extra={"camera_id": self.camera_id})
                reason, advice = classify(e)
                # its text may quote what the camera sent: only its type goes on the status (the log has it all)
                self._failed(reason, f"Reading {self.source} failed unexpectedly ({type(e).__name__}). {advice}.")
            if self._stop.is_set():
                break
            self.reconnects += 1
            self._m_reconnects.inc()
            self._stop.wait(backoff.next())
        # The source is done (or max_frames reached): let the encoder take what is pending, so a one-shot run
        # produces every frame it captured. (A stopped camera has no pending frames: stop() dropped them.)
        deadline = time.monotonic() + 30
        with self._lock:
            while self._pending and time.monotonic() < deadline:
                self._lock.wait(0.1)

    def _offer(self, df: DecodedFrame) -> None:
        now, wall = time.monotonic(), datetime.now(UTC)
        with self._lock:
            change = self._tracker.frame(now, wall, df.width, df.height)
            if self.ctx.block_when_busy:
                while len(self._pending) >= 2 and not self._stop.is_set():
                    self._lock.wait(0.1)
            elif len(self._pending) >= 2:
                self._pending.popleft()
                self._drop(1, "oldest")
            self._pending.append(_Pending(df, wall))
            self.captured += 1
            self._m_captured.inc()
            if self.max_frames and self.captured >= self.max_frames:
                self._stop.set()  # read no further; the encoder still takes what is pending
            queue_it = not self._queued
            self._queued = True
        if change:
            self._emit(change)
        if queue_it:
            self.ctx.pool.submit(self)

    def _on_lag(self) -> None:
        with self._lock:
            self._tracker.lag_drop(time.monotonic())
            self._drop(1, "lag")

    def _drop(self, n: int, reason: str) -> None:
        """Count frames dropped by policy; call with the lock held (reader and encoder threads both drop)."""
        self.dropped += n
        m.DROPPED.labels(self.camera_id, reason).inc(n)

    def _failed(self, reason: str, error: str) -> None:
        with self._lock:
            change = self._tracker.failed(time.monotonic(), datetime.now(UTC), reason, error)
        if change:
            log.warning(error, extra={"camera_id": self.camera_id, "reason": reason})
            self._emit(change)

    @property
    def masks(self) -> tuple[Polygon, ...]:
        """The privacy masks of the current configuration (the fleet swaps `cfg` in place when zones change)."""
        cfg = self.cfg
        if self._masks[0] is not cfg:
            self._masks = (cfg, privacy_masks(cfg["zones"]))
        return self._masks[1]

    # -- encoder pool side ------------------------------------------------------------------------------
    def encode_next(self) -> bool:
        with self._lock:
            if not self._pending:
                self._queued = False
                return False
            item = self._pending.popleft()
            self._lock.notify_all()
        try:
            self._encode_and_send(item)
        except Exception as e:
            with self._lock:
                self._drop(1, "bad_frame")
            log.warning("frame dropped: %s", e, extra={"camera_id": self.camera_id})
        with self._lock:
            if self._pending:
                return True
            self._queued = False
            return False

    def _encode_and_send(self, item: _Pending) -> None:
        cfg = self.cfg
        jpeg, w, h = encode_frame(item.frame, cfg["max_width"], cfg["max_height"], cfg["jpeg_quality"], self.masks)
        seq = self._seq.next(int(item.captured_at.timestamp() * 1000))
        event: FrameCaptured = {
            "camera_id": self.camera_id,
            "frame_seq": seq,
            "captured_at": item.captured_at,
            "source_pts_us": item.frame.pts_us,
            "width": w,
            "height": h,
            "encoding": "jpeg",
            "image": jpeg,
            "source": self.source,
            "run_start_seq": self._seq.run_start,
            "run_index": self._seq.index,
        }
        value = self._codec.encode(event)
        if not self.ctx.producer.send(self.ctx.frames_topic, self.camera_id, value):
            with self._lock:
                self._drop(1, "queue_full")
            return
        t = item.captured_at.timestamp()
        if self.ctx.snapshots_topic and not (0 <= t - self._snapshot_t < self.ctx.snapshot_interval_s):
            # Best effort: a still that does not fit the queue is simply not kept (the next one comes soon).
            self._snapshot_t = t
            self.ctx.producer.send(self.ctx.snapshots_topic, self.camera_id, value)
        self.sent += 1
        self.first_frame_at = self.first_frame_at or item.captured_at
        self.last_frame_at = item.captured_at
        if self.on_frame is not None:
            self.on_frame(event)

    # -- status -----------------------------------------------------------------------------------------
    def _emit(self, change: StatusChange) -> None:
        m.STATUS.labels(self.camera_id).state(change.status)
        event: CameraStatusChanged = {
            "camera_id": self.camera_id,
            "status": change.status,
            "previous": change.previous,
            "reason": change.reason,
            "error": redact(change.error) if change.error else change.error,  # never a credential on the topic
            "changed_at": change.at,
            "last_frame_at": self.last_frame_at,
            "measured_fps": round(change.measured_fps, 3),
            "target_fps": self.cfg["target_fps"],
            "width": change.width,
            "height": change.height,
            "reconnects": self.reconnects,
            "frames_produced": self.sent,
            "frames_dropped": self.dropped,
            "worker": self.ctx.worker,
            "source": self.source,
        }
        log.info(
            "camera status",
            extra={"camera_id": self.camera_id, "status": change.status, "reason": change.reason},
        )
        if not self.ctx.producer.send(self.ctx.status_topic, self.camera_id, self._status_codec.encode(event)):
            log.error("status event dropped: producer queue full", extra={"camera_id": self.camera_id})
