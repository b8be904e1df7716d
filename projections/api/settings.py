"""Settings of the API deployable, read from the environment (prefix ITS_API_)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from eventbus.settings import DeployableSettings, metrics_port_field
from projections.settings import DEFAULT_PG_DSN, DEFAULT_REDIS_URL
from schemas.topics import CAMERAS

__all__ = ["ApiSettings"]


class ApiSettings(DeployableSettings):
    """Serve read models from PostgreSQL and Redis over HTTP."""

    model_config = SettingsConfigDict(env_prefix="ITS_API_")

    # Secrets: unwrapped with .get_secret_value() only where psycopg / redis-py open a connection.
    pg_dsn: SecretStr = Field(
        SecretStr(DEFAULT_PG_DSN), validation_alias=AliasChoices("ITS_PG_DSN"), description="PostgreSQL DSN."
    )
    redis_url: SecretStr = Field(
        SecretStr(DEFAULT_REDIS_URL), validation_alias=AliasChoices("ITS_REDIS_URL"), description="Redis URL."
    )
    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8080, description="HTTP port.")
    workers: int = Field(2, description="uvicorn worker processes (`itscam api --workers`); about one per core.")
    metrics_port: int = metrics_port_field(9104)  # separate from the API port
    pool_size: int = Field(10, description="PostgreSQL connections in the pool (per worker process).")
    pool_timeout_s: float = Field(5.0, description="Longest wait for a PostgreSQL connection before a 503.")
    ready_timeout_s: float = Field(
        2.0,
        description="Per-dependency timeout of /ready; also the Redis clients' connect timeout and the requests' "
        "Redis read timeout.",
    )
    degraded_lag_s: float = Field(
        30.0,
        gt=0,
        description="A camera's analytics is DEGRADED (`analytics.status` of GET /v1/cameras) while its newest "
        "detections are further behind what it sends than this many seconds.",
    )
    max_range_days: int = Field(31, description="Longest from..to range a query may ask for (days).")
    max_page: int = Field(1000, description="Largest page (`limit`) a list endpoint returns.")
    key_cache_s: float = Field(
        5.0,
        description="How long a worker trusts an API key it has looked up (or found unknown): a revoked key keeps "
        "working for at most this long.",
    )
    cache_redis_url: SecretStr | None = Field(
        None,
        description="Redis URL of the query cache (its:qc:*), an instance of its own with maxmemory and allkeys-lru "
        "(the local stack's: redis://127.0.0.1:16380/0). Unset: the cache lives in ITS_REDIS_URL's instance, "
        "bounded (a TTL on every entry, no writes above half its maxmemory, a refused write is a miss), so "
        "counters and rate-limit buckets are never evicted for it.",
    )
    query_cache_s: float = Field(5.0, description="Lifetime of cached counts/fleet responses in Redis (its:qc:*).")
    query_cache_closed_s: float = Field(
        60.0,
        description="Lifetime of cached counts whose range ended over 2 minutes ago: only late events change them.",
    )
    audit_flush_s: float = Field(0.5, description="Longest a request's audit row waits before it is written.")
    audit_batch: int = Field(2000, description="Most audit rows written per COPY.")
    audit_max_pending: int = Field(
        200_000, description="Audit rows kept while PostgreSQL is down; older ones are dropped (and counted) beyond."
    )
    cameras_topic: str = Field(CAMERAS.name, description="Topic the camera commands are appended to.")
    command_timeout_s: float = Field(10.0, description="Longest wait for Kafka to acknowledge a camera command.")
    events_channel: str = Field("its:events", description="Redis pub/sub channel the projector publishes to.")
    sse_heartbeat_s: float = Field(15.0, description="Seconds between SSE heartbeat comments on an idle stream.")
    sse_max_per_key: int = Field(
        4, description="Concurrent /v1/stream connections one API key may hold on one worker; a 429 beyond."
    )
    sse_max_per_worker: int = Field(
        256, description="Concurrent /v1/stream connections per worker process; 429 beyond."
    )
    sse_idle_timeout_s: float = Field(
        300.0, description="A stream that delivered no event for this long ends (the client's EventSource reconnects)."
    )
    sse_max_lifetime_s: float = Field(3600.0, description="Longest a stream stays open; the client reconnects.")
    statement_timeout_ms: int = Field(
        5000,
        description="PostgreSQL statement_timeout of the API's connections: a query running longer is cancelled and "
        "answered 503 (0 turns it off).",
    )
    idle_in_transaction_timeout_ms: int = Field(
        60_000,
        description="PostgreSQL idle_in_transaction_session_timeout of the API's connections: an export whose client "
        "stops reading for this long loses its connection (0 turns it off).",
    )
    export_max_per_key: int = Field(2, description="Concurrent CSV/Parquet downloads per key per worker; 429 beyond.")
    export_max_per_worker: int = Field(
        3,
        description="Concurrent CSV/Parquet downloads per worker process (each holds a pool connection while the "
        "client reads); keep it below pool_size. 429 beyond.",
    )
    max_body_bytes: int = Field(
        256 * 1024,
        description="Largest request body: a bigger Content-Length is refused (413) before the body is read, and a "
        "chunked body is cut off at this size.",
    )
    key_cache_max: int = Field(
        10_000, description="API keys (known or unknown) a worker remembers; the least recently used go beyond."
    )
    require_if_match: bool = Field(
        False,
        description="PATCH/PUT /v1/cameras/{id} without If-Match answer 428 (default: accepted, last writer wins; "
        "a stale If-Match is always a 412).",
    )
    command_tag_ttl_s: int = Field(
        600,
        ge=1,
        description="How long the ETag of a camera's last accepted command is kept in Redis, so If-Match holds "
        "while the projector has not applied it yet (longer than the projector's worst lag).",
    )
