"""Settings of the ingest deployable, read from the environment (prefix ITS_INGEST_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.kafka import DEFAULT_BOOTSTRAP
from schemas.topics import FRAMES

__all__ = ["IngestSettings"]


class IngestSettings(BaseSettings):
    """Read one camera source, sample it, JPEG-encode and produce FrameCaptured events."""

    model_config = SettingsConfigDict(env_prefix="ITS_INGEST_", extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(
        DEFAULT_BOOTSTRAP, validation_alias=AliasChoices("ITS_KAFKA_BOOTSTRAP"), description="Kafka bootstrap servers."
    )
    source: str = Field("", description="Video file path or stream URL (rtsp://, http://, ...).")
    camera_id: str = Field("", description="Camera id; the Kafka key. Defaults to the source's file name.")
    fps: float = Field(10.0, description="Target sampled frames per second; 0 keeps every frame.")
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of produced frames.")
    decode_threads: int = Field(1, ge=0, description="FFmpeg decoder threads per camera; 0 = FFmpeg decides.")
    realtime: bool = Field(False, description="Pace file sources to their own timestamps (cameras always are).")
    max_frames: int = Field(0, description="Stop after this many sampled frames; 0 = until the source ends.")
    frames_topic: str = Field(FRAMES.name, description="Topic FrameCaptured events go to.")
    metrics_port: int = Field(9101, description="Prometheus /metrics port; 0 disables it.")
