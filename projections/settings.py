"""Settings of the projector deployable, read from the environment (prefix ITS_PROJECTOR_)."""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from eventbus.settings import DeployableSettings, metrics_port_field
from schemas.topics import (
    CAMERA_STATUS,
    CAMERAS,
    DETECTIONS,
    DLQ,
    INCIDENTS,
    MOVEMENTS,
    SNAPSHOTS,
    TRAFFIC_STATS,
    VEHICLE_EVENTS,
)

__all__ = ["DEFAULT_PG_DSN", "DEFAULT_REDIS_URL", "ProjectorSettings", "check_schema_name"]

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:15432/its"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(name: str) -> str:
    """`name` if it is a plain lower-case PostgreSQL identifier (it is put into SQL and connection options)."""
    if not _SCHEMA.match(name):
        raise ValueError(
            f"Schema name {name!r} is not valid: use 1-63 lower-case letters, digits or '_', starting with a letter "
            "or '_' (e.g. public, rebuild_20260105120000)."
        )
    return name


class ProjectorSettings(DeployableSettings):
    """Consume every event topic into PostgreSQL read models and Redis caches.

    A topic setting left empty ("") is not consumed (tests and benchmarks project only the topics they fill).
    """

    model_config = SettingsConfigDict(env_prefix="ITS_PROJECTOR_")

    # Secrets (their passwords): psycopg and redis-py take plain strings, so each is unwrapped with
    # .get_secret_value() where a connection is opened, and nowhere else (never logged, never in a repr).
    pg_dsn: SecretStr = Field(
        SecretStr(DEFAULT_PG_DSN), validation_alias=AliasChoices("ITS_PG_DSN"), description="PostgreSQL DSN."
    )
    pg_schema: str = Field(
        "public",
        description="PostgreSQL schema the read models live in (the connection's search_path); `itscam rebuild` "
        "builds a whole set beside the live one in another schema.",
    )
    redis_url: SecretStr = Field(
        SecretStr(DEFAULT_REDIS_URL), validation_alias=AliasChoices("ITS_REDIS_URL"), description="Redis URL."
    )
    update_redis: bool = Field(True, description="Keep the Redis caches and publish to events_channel.")
    events_channel: str = Field("its:events", description="Redis pub/sub channel events are published to.")
    group_id: str = Field("its-projector", description="Kafka consumer group (offsets live in PostgreSQL).")
    session_timeout_ms: int = Field(
        45_000,
        ge=1,
        description="Kafka session.timeout.ms: a worker that stops heartbeating (crashed, paused) loses its "
        "partitions to the others after this long; its late batch is then fenced (fencing.py).",
    )
    cameras_topic: str = Field(CAMERAS.name, description="Topic of CameraConfig records (tombstone = delete).")
    camera_status_topic: str = Field(CAMERA_STATUS.name, description="Topic of CameraStatusChanged events.")
    detections_topic: str = Field(DETECTIONS.name, description="Topic of DetectionsProduced events.")
    vehicle_events_topic: str = Field(VEHICLE_EVENTS.name, description="Topic of VehicleCounted events.")
    traffic_stats_topic: str = Field(TRAFFIC_STATS.name, description="Topic of TrafficStatsWindow events.")
    incidents_topic: str = Field(INCIDENTS.name, description="Topic of IncidentDetected events.")
    movements_topic: str = Field(MOVEMENTS.name, description="Topic of TurningMovement events.")
    snapshots_topic: str = Field(
        SNAPSHOTS.name, description="Topic of camera stills (FrameCaptured); the latest per camera is kept in Redis."
    )
    snapshot_ttl_s: int = Field(
        600,
        ge=1,
        le=86400,
        description="How long Redis keeps a camera's latest still (its:snap:{camera_id}) after it arrives: the page "
        "shows it to draw lines on; never a video archive.",
    )
    dlq_topic: str = Field(DLQ.name, description="Dead-letter topic.")
    max_batch: int = Field(
        5000,
        description="Most events written per PostgreSQL transaction. Live traffic fills batches only for "
        "max_wait_ms, so this bounds catch-up batches, where bigger is faster (`itscam bench projector`).",
    )
    max_wait_ms: int = Field(50, description="Longest wait to fill a batch once one event is there.")
    metrics_port: int = metrics_port_field(9103)
    fence_check_s: float = Field(
        5.0,
        description="While idle, how often the stored offsets are compared with the expected ones (a rebuild's "
        "swap shows up this way even when no event arrives).",
    )

    @field_validator("pg_schema")
    @classmethod
    def _schema(cls, v: str) -> str:
        return check_schema_name(v)

    def topics(self, snapshots: bool = True) -> dict[str, str]:
        """Topic name -> the kind of record it carries, for every topic consumed (the stills only with
        `snapshots`: they go to Redis alone, so rebuilds and replays leave them out)."""
        kinds = {
            self.cameras_topic: "CameraConfig",
            self.camera_status_topic: "CameraStatusChanged",
            self.detections_topic: "DetectionsProduced",
            self.vehicle_events_topic: "VehicleCounted",
            self.traffic_stats_topic: "TrafficStatsWindow",
            self.incidents_topic: "IncidentDetected",
            self.movements_topic: "TurningMovement",
            self.snapshots_topic: "FrameCaptured" if snapshots else "",
        }
        return {t: k for t, k in kinds.items() if t and k}
