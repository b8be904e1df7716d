"""Settings of the projector deployable, read from the environment (prefix ITS_PROJECTOR_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.kafka import DEFAULT_BOOTSTRAP
from schemas.topics import DETECTIONS, DLQ

__all__ = ["DEFAULT_PG_DSN", "DEFAULT_REDIS_URL", "ProjectorSettings"]

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:15432/its"
DEFAULT_REDIS_URL = "redis://127.0.0.1:16379/0"


class ProjectorSettings(BaseSettings):
    """Consume detections into PostgreSQL read models and Redis caches."""

    model_config = SettingsConfigDict(env_prefix="ITS_PROJECTOR_", extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(
        DEFAULT_BOOTSTRAP, validation_alias=AliasChoices("ITS_KAFKA_BOOTSTRAP"), description="Kafka bootstrap servers."
    )
    pg_dsn: str = Field(DEFAULT_PG_DSN, validation_alias=AliasChoices("ITS_PG_DSN"), description="PostgreSQL DSN.")
    redis_url: str = Field(DEFAULT_REDIS_URL, validation_alias=AliasChoices("ITS_REDIS_URL"), description="Redis URL.")
    group_id: str = Field("its-projector", description="Kafka consumer group (offsets live in PostgreSQL).")
    detections_topic: str = Field(DETECTIONS.name, description="Topic of DetectionsProduced events.")
    dlq_topic: str = Field(DLQ.name, description="Dead-letter topic.")
    max_batch: int = Field(500, description="Most events written per PostgreSQL transaction.")
    max_wait_ms: int = Field(50, description="Longest wait to fill a batch once one event is there.")
    metrics_port: int = Field(9103, description="Prometheus /metrics port; 0 disables it.")
