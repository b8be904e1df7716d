import re

from deploy.stack.kafka import _cluster_id


def test_cluster_ids_are_kafka_uuids_the_storage_tool_accepts() -> None:
    ids = {_cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    for cid in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid)
        assert not cid.startswith("-")  # argparse would read it as an option
