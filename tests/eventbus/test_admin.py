"""Topic provisioning against the real broker (eventbus/admin.py)."""

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from eventbus.admin import apply_topics
from schemas.topics import Topic


@pytest.mark.integration
def test_apply_is_idempotent_and_applies_configs(bootstrap: str, unique: str) -> None:
    t = Topic(
        name=f"test.apply.{unique}",
        partitions=2,
        retention_ms=3_600_000,
        cleanup_policy="delete",
        key="camera_id",
        value_schema="FrameCaptured",
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        assert apply_topics(bootstrap, [t]) == [t.name]
        assert apply_topics(bootstrap, [t]) == []
        md = admin.list_topics(t.name, timeout=10).topics[t.name]
        assert len(md.partitions) == 2
        res = ConfigResource(ConfigResource.Type.TOPIC, t.name)
        cfg = next(iter(admin.describe_configs([res]).values())).result(10)
        assert cfg["retention.ms"].value == "3600000"
        assert cfg["cleanup.policy"].value == "delete"
    finally:
        admin.delete_topics([t.name])[t.name].result(30)
