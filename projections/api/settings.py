"""Settings of the API deployable, read from the environment (prefix ITS_API_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.settings import DEFAULT_PG_DSN, DEFAULT_REDIS_URL
from schemas.kafka import DEFAULT_BOOTSTRAP

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    """Serve read models from PostgreSQL and Redis over HTTP."""

    model_config = SettingsConfigDict(env_prefix="ITS_API_", extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(
        DEFAULT_BOOTSTRAP, validation_alias=AliasChoices("ITS_KAFKA_BOOTSTRAP"), description="Kafka bootstrap servers."
    )
    pg_dsn: str = Field(
        DEFAULT_PG_DSN,
        validation_alias=AliasChoices("ITS_PG_DSN"),
        description="PostgreSQL DSN.",
    )
    redis_url: str = Field(DEFAULT_REDIS_URL, validation_alias=AliasChoices("ITS_REDIS_URL"), description="Redis URL.")
    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8080, description="HTTP port.")
    metrics_port: int = Field(9104, description="Prometheus /metrics port (separate from the API); 0 disables it.")
    pool_size: int = Field(10, description="PostgreSQL connections in the pool.")
    pool_timeout_s: float = Field(5.0, description="Longest wait for a PostgreSQL connection before a 503.")
    ready_timeout_s: float = Field(2.0, description="Per-dependency timeout of /ready.")
    max_range_days: int = Field(31, description="Longest from..to range a counts query may ask for.")
