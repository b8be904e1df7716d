"""The settings base every deployable derives from: one bootstrap default, renamed variables, the naming rule."""

from __future__ import annotations

import logging
import re

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from eventbus.config import DEFAULT_BOOTSTRAP
from eventbus.settings import DeployableSettings, env_name
from inference.settings import InferenceSettings
from projections.api.settings import ApiSettings
from projections.settings import ProjectorSettings
from streams.analytics.settings import AnalyticsSettings
from streams.ingest.settings import IngestSettings

DEPLOYABLES: tuple[type[DeployableSettings], ...] = (
    IngestSettings,
    InferenceSettings,
    AnalyticsSettings,
    ProjectorSettings,
    ApiSettings,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("ITS_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize("cls", DEPLOYABLES)
def test_every_deployable_shares_the_bootstrap_and_its_one_default(
    cls: type[DeployableSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert issubclass(cls, DeployableSettings)
    assert cls().kafka_bootstrap == DEFAULT_BOOTSTRAP == DeployableSettings().kafka_bootstrap
    monkeypatch.setenv("ITS_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("ITS_LOG_LEVEL", "DEBUG")
    s = cls()
    assert (s.kafka_bootstrap, s.log_level) == ("kafka:9092", "DEBUG")


def test_an_old_name_is_still_read_and_warns_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ITS_ANALYTICS_TOPIC_STATUS", "its.old-status")
    monkeypatch.setenv("ITS_ANALYTICS_COMMIT_INTERVAL", "2.5")
    with caplog.at_level(logging.WARNING, logger="eventbus.settings"):
        s = AnalyticsSettings()
    assert s.camera_status_topic == "its.old-status"
    assert s.commit_interval_s == 2.5  # same unit (seconds), new name
    text = caplog.text
    assert "ITS_ANALYTICS_TOPIC_STATUS is deprecated: rename it to ITS_ANALYTICS_CAMERA_STATUS_TOPIC" in text
    assert "ITS_ANALYTICS_COMMIT_INTERVAL is deprecated: rename it to ITS_ANALYTICS_COMMIT_INTERVAL_S" in text


def test_the_new_name_wins_when_both_are_set(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ITS_INGEST_STATUS_TOPIC", "its.old-status")
    monkeypatch.setenv("ITS_INGEST_CAMERA_STATUS_TOPIC", "its.new-status")
    with caplog.at_level(logging.WARNING, logger="eventbus.settings"):
        s = IngestSettings()
    assert s.camera_status_topic == "its.new-status"
    assert "its old name ITS_INGEST_STATUS_TOPIC, which is ignored" in caplog.text


def test_no_warning_without_old_names(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eventbus.settings"):
        for cls in DEPLOYABLES:
            cls()
    assert not caplog.records


@pytest.mark.parametrize("cls", DEPLOYABLES)
def test_renamed_variables_point_at_fields_under_the_new_names(cls: type[DeployableSettings]) -> None:
    for old, field in cls.renamed.items():
        assert field in cls.model_fields, f"{cls.__name__}.renamed maps {old} to unknown field {field}"
        assert env_name(cls, field) != old


_UNITS = ("_ms", "_s", "_bytes", "_kbytes", "_days", "_kmh")
# Names that read as durations or sizes and therefore need a unit suffix.
_NEEDS_UNIT = re.compile(r"(timeout|interval|window|horizon|seconds|delay|duration|_lost|_age|_ttl)(_|$)")


@pytest.mark.parametrize("cls", DEPLOYABLES)
def test_settings_follow_the_naming_rule(cls: type[BaseSettings]) -> None:
    """ITS_<DEPLOYABLE>_<THING>[_<UNIT>]: topics end in _TOPIC, durations and sizes carry their unit."""
    for field in cls.model_fields:
        if "topic" in field:
            assert field.endswith("_topic"), f"{cls.__name__}.{field}: name topic settings <topic>_topic"
        if _NEEDS_UNIT.search(field):
            assert field.endswith(_UNITS), f"{cls.__name__}.{field}: put the unit in the name ({', '.join(_UNITS)})"


@pytest.mark.parametrize("cls", [ProjectorSettings, ApiSettings])
def test_connection_urls_are_secrets(cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITS_PG_DSN", "postgresql://its:hunter2@db:5432/its")
    monkeypatch.setenv("ITS_REDIS_URL", "redis://:hunter2@r:6379/0")
    s = cls()
    assert isinstance(s.pg_dsn, SecretStr) and isinstance(s.redis_url, SecretStr)  # type: ignore[attr-defined]
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.pg_dsn.get_secret_value() == "postgresql://its:hunter2@db:5432/its"  # type: ignore[attr-defined]
