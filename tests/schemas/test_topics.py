import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from schemas.kafka import apply_topics
from schemas.topics import CATALOGUE, DETECTIONS, FRAMES, Topic, topic


def test_frames_and_detections_are_co_partitioned() -> None:
    assert FRAMES.partitions == DETECTIONS.partitions
    assert FRAMES.key == DETECTIONS.key == "camera_id"


def test_every_event_topic_names_a_known_schema() -> None:
    from schemas import schema_files

    for t in CATALOGUE:
        assert t.value_schema is None or t.value_schema in schema_files(), t.name


def test_unknown_topic_lookup_names_the_catalogue() -> None:
    with pytest.raises(KeyError, match=r"schemas/topics\.py"):
        topic("nope")


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
