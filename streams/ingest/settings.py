"""Settings of the ingest deployable, read from the environment (prefix ITS_INGEST_)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eventbus.settings import DeployableSettings, metrics_port_field
from schemas.topics import CAMERA_STATUS, CAMERAS, DLQ, FRAMES, SNAPSHOTS

__all__ = ["IngestSettings"]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class IngestSettings(DeployableSettings):
    """An ingest worker: follows its share of the camera registry (or reads one `source`), samples each camera,
    JPEG-encodes and produces FrameCaptured events, and reports camera health."""

    model_config = SettingsConfigDict(env_prefix="ITS_INGEST_")
    renamed: ClassVar[Mapping[str, str]] = {"ITS_INGEST_STATUS_TOPIC": "camera_status_topic"}

    # -- one-shot mode (`itscam ingest --source`): read one source, no registry --------------------------
    source: str = Field("", description="One-shot mode: a video file or stream URL to read instead of the registry.")
    camera_id: str = Field("", description="One-shot mode: the camera id (Kafka key); defaults to the file name.")
    fps: float = Field(10.0, description="One-shot mode: target sampled fps; 0 keeps every frame.")
    jpeg_quality: int = Field(90, ge=1, le=100, description="One-shot mode: JPEG quality of produced frames.")
    realtime: bool = Field(False, description="One-shot mode: pace a file to its own timestamps, as a camera would.")
    max_frames: int = Field(0, description="One-shot mode: stop after this many sampled frames; 0 = no limit.")
    # -- fleet mode: cameras from the registry ------------------------------------------------------------
    cameras_topic: str = Field(CAMERAS.name, description="Compacted topic of CameraConfig records (the registry).")
    camera_status_topic: str = Field(CAMERA_STATUS.name, description="Topic CameraStatusChanged events go to.")
    dlq_topic: str = Field(DLQ.name, description="Dead-letter topic for registry records that cannot be read.")
    group_id: str = Field("its-ingest", description="Consumer group of all ingest workers; cameras split by partition.")
    worker_name: str = Field(default_factory=_worker_name, description="Name on status events (default host:pid).")
    session_timeout_ms: int = Field(
        10_000, description="A worker that dies without leaving the group loses its cameras after this long."
    )
    # -- both modes -------------------------------------------------------------------------------------
    frames_topic: str = Field(FRAMES.name, description="Topic FrameCaptured events go to.")
    snapshots_topic: str = Field(
        SNAPSHOTS.name,
        description='Topic a still of each camera goes to every snapshot_interval_s (the page\'s picture); "" '
        "sends none.",
    )
    snapshot_interval_s: float = Field(
        5.0, gt=0, le=3600, description="Seconds of capture time between two stills of a camera."
    )
    decode_threads: int = Field(1, ge=0, description="FFmpeg decoder threads per camera; 0 = FFmpeg decides.")
    encoder_threads: int = Field(0, ge=0, description="Threads scaling + JPEG-encoding frames; 0 = one per core.")
    open_timeout_s: float = Field(10.0, gt=0, description="Give up opening a camera after this long.")
    read_timeout_s: float = Field(5.0, gt=0, description="A camera that sends nothing for this long is OFFLINE.")
    max_lag_s: float = Field(2.0, ge=0, description="Skip to the next key frame when reading falls this far behind.")
    backoff_min_s: float = Field(0.5, gt=0, description="First reconnect delay (doubles per failure, with jitter).")
    backoff_max_s: float = Field(10.0, gt=0, description="Longest reconnect delay.")
    status_window_s: float = Field(10.0, gt=0, description="Window over which a camera's frame rate is measured.")
    queue_max_messages: int = Field(20_000, gt=0, description="Producer queue bound (messages); beyond it frames drop.")
    queue_max_kbytes: int = Field(262_144, gt=0, description="Producer queue bound (KiB); beyond it frames drop.")
    metrics_port: int = metrics_port_field(9101)
