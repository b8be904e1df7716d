"""Kafka client configuration every deployable and the CLI share, and the broker reachability check.

Every client (confluent-kafka producers, consumers and admin clients, and Faust's aiokafka client through
`KafkaSecurity.faust_credentials`) gets its identity from one settings block, `KafkaSecurity`, read from the
environment when a configuration is built:

  ITS_KAFKA_SECURITY_PROTOCOL        PLAINTEXT (default, the local stack) | SSL | SASL_PLAINTEXT | SASL_SSL
  ITS_KAFKA_SASL_MECHANISM           SCRAM-SHA-512 (default) | SCRAM-SHA-256 | PLAIN
  ITS_KAFKA_SASL_USERNAME            the deployable's Kafka user (eventbus.identities)
  ITS_KAFKA_SASL_PASSWORD            its password, or
  ITS_KAFKA_SASL_PASSWORD_FILE       a file holding it (a mounted secret; the file wins when both are set)
  ITS_KAFKA_SSL_CA_LOCATION          PEM CA bundle the broker's certificate is checked against (SSL, SASL_SSL)
  ITS_KAFKA_SSL_CERTIFICATE_LOCATION PEM client certificate (mTLS), with
  ITS_KAFKA_SSL_KEY_LOCATION         its PEM private key
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventbus.errors import KafkaUnavailableError

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "MAX_MESSAGE_BYTES",
    "KafkaSecurity",
    "admin_config",
    "check_kafka",
    "client_config",
    "consumer_config",
    "producer_config",
]

# The local stack's broker (`itscam stack up`). Settings resolve ITS_KAFKA_BOOTSTRAP against it in one place:
# eventbus.settings.DeployableSettings.
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"

# Frames can be several MB at 4K; keep client limits in line with the topic's max.message.bytes.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024 + 65536


class KafkaSecurity(BaseSettings):
    """How a client proves who it is to the broker and checks the broker is the right one (env ITS_KAFKA_*)."""

    model_config = SettingsConfigDict(env_prefix="ITS_KAFKA_", extra="ignore")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL (TLS, mTLS with a client certificate), SASL_PLAINTEXT, SASL_SSL."
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (SASL_* protocols)."
    )
    sasl_username: str = Field("", description="Kafka user of this deployable (SASL_* protocols).")
    sasl_password: SecretStr = Field(SecretStr(""), description="Its password (or ITS_KAFKA_SASL_PASSWORD_FILE).")
    sasl_password_file: Path | None = Field(None, description="File holding the password (a mounted secret).")
    ssl_ca_location: str = Field("", description="PEM CA bundle that signed the broker's certificate.")
    ssl_certificate_location: str = Field("", description="PEM client certificate (mTLS).")
    ssl_key_location: str = Field("", description="PEM private key of the client certificate (mTLS).")

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        if self.sasl:
            if not self.sasl_username:
                raise ValueError(f"ITS_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs ITS_KAFKA_SASL_USERNAME")
            if not self.password():
                raise ValueError(
                    f"ITS_KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs ITS_KAFKA_SASL_PASSWORD or "
                    "ITS_KAFKA_SASL_PASSWORD_FILE"
                )
        if bool(self.ssl_certificate_location) != bool(self.ssl_key_location):
            raise ValueError("ITS_KAFKA_SSL_CERTIFICATE_LOCATION and ITS_KAFKA_SSL_KEY_LOCATION go together")
        return self

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def password(self) -> str:
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip("\r\n")
        return self.sasl_password.get_secret_value()

    def librdkafka(self) -> dict[str, Any]:
        """The settings confluent-kafka (librdkafka) clients take."""
        if self.security_protocol == "PLAINTEXT":
            return {}  # librdkafka's default
        cfg: dict[str, Any] = {"security.protocol": self.security_protocol.lower()}
        if self.sasl:
            cfg.update(
                {
                    "sasl.mechanism": self.sasl_mechanism,
                    "sasl.username": self.sasl_username,
                    "sasl.password": self.password(),
                }
            )
        if self.tls:
            for key, value in (
                ("ssl.ca.location", self.ssl_ca_location),
                ("ssl.certificate.location", self.ssl_certificate_location),
                ("ssl.key.location", self.ssl_key_location),
            ):
                if value:
                    cfg[key] = value
        return cfg

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of Python clients (Faust/aiokafka): the CA (else the system's), the client certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ssl_ca_location or None)
        if self.ssl_certificate_location:
            ctx.load_cert_chain(self.ssl_certificate_location, self.ssl_key_location)
        return ctx

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials`: None for PLAINTEXT, faust.SSLCredentials for TLS/mTLS, faust.SASLCredentials
        (with the TLS context for SASL_SSL) for SCRAM."""
        if self.security_protocol == "PLAINTEXT":
            return None
        import faust

        if not self.sasl:
            return faust.SSLCredentials(self.ssl_context())
        return faust.SASLCredentials(
            username=self.sasl_username,
            password=self.password(),
            mechanism=self.sasl_mechanism,
            ssl_context=self.ssl_context() if self.tls else None,
        )


def _security() -> dict[str, Any]:
    """This process's identity (ITS_KAFKA_*); a caller with another identity passes its `librdkafka()` as
    overrides."""
    return KafkaSecurity().librdkafka()


def client_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Any client's base configuration: the bootstrap and this process's identity (ITS_KAFKA_*), then `overrides`
    (raw clients of tests and benchmarks that want librdkafka's defaults otherwise)."""
    cfg: dict[str, Any] = {"bootstrap.servers": bootstrap, **_security()}
    cfg.update(overrides)
    return cfg


def admin_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """An AdminClient's configuration: the bootstrap and this process's identity (ITS_KAFKA_*)."""
    return client_config(bootstrap, **overrides)


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.max.bytes": MAX_MESSAGE_BYTES,
        **_security(),
    }
    cfg.update(overrides)
    return cfg


def consumer_config(bootstrap: str, group_id: str, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Only see what upstream transactions committed (exactly-once chain).
        "isolation.level": "read_committed",
        "fetch.message.max.bytes": MAX_MESSAGE_BYTES,
        "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
        **_security(),
    }
    cfg.update(overrides)
    return cfg


def check_kafka(bootstrap: str, timeout: float = 3.0) -> None:
    """Raise KafkaUnavailableError (a ConnectionError) naming the bootstrap address when no broker answers."""
    admin = AdminClient(admin_config(bootstrap))
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as e:
        raise KafkaUnavailableError(
            f"Kafka at {bootstrap} did not answer within {timeout}s ({e}). "
            "Start the local stack with `itscam stack up` or set ITS_KAFKA_BOOTSTRAP."
        ) from e
