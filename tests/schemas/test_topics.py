import pytest

from schemas.topics import CATALOGUE, DETECTIONS, FRAMES, topic


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
