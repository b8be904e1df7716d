"""The settings every deployable shares, and the one naming rule for settings (docs/operations.md, "Settings").

Each deployable's settings class derives from DeployableSettings: the Kafka bootstrap (ITS_KAFKA_BOOTSTRAP, its
default resolved here and nowhere else), the log level (ITS_LOG_LEVEL) and where the Prometheus server listens.
The CLI and the benchmarks read the bootstrap through it too.

Names: ITS_<DEPLOYABLE>_<THING>[_<UNIT>], the unit in the name of every duration and size (_MS, _S, _BYTES, ...),
topics ITS_<DEPLOYABLE>_<TOPIC>_TOPIC. A class lists the environment variables it renamed in `renamed` (old name ->
field); an old name is still read for one release, with a warning naming the new one, and the new name wins when
both are set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import AliasChoices, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eventbus.config import DEFAULT_BOOTSTRAP

__all__ = ["DeployableSettings", "env_name", "metrics_port_field"]

log = logging.getLogger(__name__)


def metrics_port_field(default: int) -> Any:
    """The `metrics_port` field of a deployable: the same meaning everywhere, a port of its own by default."""
    return Field(default, ge=0, le=65535, description="Prometheus /metrics port; 0 disables it.")


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable a field of `cls` is read from: its first validation alias, else prefix + NAME."""
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0].upper()
    if isinstance(alias, str):
        return alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


class _RenamedEnv(PydanticBaseSettingsSource):
    """Values from the environment variables a class renamed (`renamed`), below the current names in priority."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # not used: __call__ reads the old names itself

    def __call__(self) -> dict[str, Any]:
        cls = self.settings_cls
        renamed: Mapping[str, str] = getattr(cls, "renamed", {})
        env = {k.upper(): v for k, v in os.environ.items()}
        out: dict[str, Any] = {}
        for old, field in renamed.items():
            if old not in env:
                continue
            new = env_name(cls, field)
            if new in env:
                log.warning("%s is set and so is its old name %s, which is ignored: remove %s.", new, old, old)
                continue
            log.warning("%s is deprecated: rename it to %s (the old name is read until the next release).", old, new)
            out[field] = env[old]
        return out


class DeployableSettings(BaseSettings):
    """What every deployable shares. Subclasses set their env_prefix, `metrics_port` and `renamed`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Old environment variable -> the field that replaced it (read for one release, with a warning).
    renamed: ClassVar[Mapping[str, str]] = {}

    kafka_bootstrap: str = Field(
        DEFAULT_BOOTSTRAP,
        validation_alias=AliasChoices("ITS_KAFKA_BOOTSTRAP"),
        description="Kafka bootstrap servers (host:port, comma-separated).",
    )
    log_level: str = Field(
        "INFO", validation_alias=AliasChoices("ITS_LOG_LEVEL"), description="Log level (DEBUG, INFO, WARNING, ...)."
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address of the /metrics server; 0.0.0.0 in a pod, so Prometheus can scrape it."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _RenamedEnv(settings_cls), dotenv_settings, file_secret_settings
