"""Settings of the local stack (`itscam stack ...`), read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["StackSettings", "repo_root"]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


class StackSettings(BaseSettings):
    """Where the local stack keeps its data and which loopback ports it listens on."""

    model_config = SettingsConfigDict(env_prefix="ITS_STACK_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: repo_root() / ".stack",
        description="Git-ignored folder holding every service's data, logs and pid files.",
    )
    kafka_port: int = Field(19092, description="Kafka broker port on 127.0.0.1 (PLAINTEXT; SASL with --secure).")
    kafka_controller_port: int = Field(19093, description="KRaft controller port on 127.0.0.1.")
    kafka_secure: bool = Field(
        False,
        description="SCRAM-SHA-512 identities and ACLs instead of the open PLAINTEXT listener (`itscam stack up "
        "--secure`); a home formatted secure stays secure. Client settings: <home>/secrets/kafka/<identity>.env.",
    )
    kafka_tls: bool = Field(
        True,
        description="Secure mode: TLS on the listeners (SASL_SSL) with a self-signed CA made under "
        "<home>/secrets/kafka (ca.pem); false: SASL_PLAINTEXT on loopback.",
    )
    kafka_libs: Path | None = Field(
        None, description="Folder of the Kafka jars to use (default <home>/kafka/libs, fetched with Maven)."
    )
    kafka_heap: str = Field("768m", description="Kafka JVM -Xmx.")
    kafka_jvm_opts: str = Field(
        "-XX:TieredStopAtLevel=1",
        description="Extra Kafka JVM flags. The default (C1 JIT only) keeps the JIT from taking a core away from "
        "the pipeline for the first minute after every broker start on a small machine.",
    )
    pg_port: int = Field(15432, description="PostgreSQL port on 127.0.0.1.")
    pg_database: str = Field("its", description="Database created for the project.")
    redis_port: int = Field(16379, description="Redis port on 127.0.0.1.")
    start_timeout_s: float = Field(120.0, description="How long `up` waits for each service to answer.")

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def pg_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{self.pg_database}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"
