"""The projector runner: real Kafka in, real PostgreSQL and Redis out."""

import json
import threading
from collections.abc import Callable

import psycopg
import pytest
import redis
from confluent_kafka import TopicPartition

from deploy.stack.settings import StackSettings
from projections import Projector, ProjectorSettings
from projections.cache import live_key
from schemas import codec
from tests.kafka_helpers import produce, read_all
from tests.projections.factories import detections_event

pytestmark = pytest.mark.integration


def _settings(
    bootstrap: str, pg_dsn: str, redis_url: str, dets: str, dlq: str, unique: str, **topics: str
) -> ProjectorSettings:
    """A projector on this test's own topics and consumer group, metrics off; topics not given are not consumed."""
    fields = {
        f"{k}_topic": ""
        for k in ("cameras", "camera_status", "vehicle_events", "traffic_stats", "incidents", "movements", "snapshots")
    }
    fields.update(topics)
    return ProjectorSettings(
        kafka_bootstrap=bootstrap,
        pg_dsn=pg_dsn,
        redis_url=redis_url,
        detections_topic=dets,
        dlq_topic=dlq,
        group_id=f"test-proj-{unique}",
        metrics_port=0,
        **fields,
    )


def _run(s: ProjectorSettings) -> None:
    p = Projector(s)
    t = threading.Thread(target=p.run, kwargs={"idle_exit_s": 3.0})
    t.start()
    t.join(60)
    assert not t.is_alive()


def test_projects_to_pg_and_redis_and_dead_letters_poison(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    dets, dlq = make_topic("dets", 2), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    enc = codec("DetectionsProduced").encode
    produce(
        bootstrap,
        dets,
        [
            (cam.encode(), enc(detections_event(cam, 0, ["car"]))),
            (cam.encode(), b"garbage"),
            (cam.encode(), enc(detections_event(cam, 1, ["car", "bus"]))),
        ],
    )
    s = _settings(bootstrap, pg_dsn, stack.redis_url, dets, dlq, unique)
    _run(s)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT frames, detections FROM cameras WHERE camera_id=%s", (cam,)).fetchone() == (2, 3)
        offsets = conn.execute(
            "SELECT sum(next_offset) FROM projection_offsets WHERE consumer_group=%s", (s.group_id,)
        ).fetchone()
        assert offsets == (3,)
    live = json.loads(redis.Redis.from_url(stack.redis_url).hget(live_key(cam), "json"))
    assert live["frame_seq"] == 1 and [d["class_name"] for d in live["detections"]] == ["car", "bus"]
    letters = [codec("DeadLetter").decode(m.value()) for m in read_all(bootstrap, dlq, 1)]
    assert [(d["source_topic"], d["source_offset"], d["stage"]) for d in letters] == [(dets, 1, "projector")]

    # A restart resumes from the offsets stored in PostgreSQL: nothing is counted twice.
    produce(bootstrap, dets, [(cam.encode(), enc(detections_event(cam, 2, ["truck"])))])
    _run(s)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT frames, detections FROM cameras WHERE camera_id=%s", (cam,)).fetchone() == (3, 4)


def test_an_event_postgresql_rejects_goes_to_dlq_and_the_rest_is_written(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    dets, dlq = make_topic("dets", 1), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    enc = codec("DetectionsProduced").encode
    bad = detections_event(cam, 1, ["car"])
    bad["detections"][0]["class_name"] = "car\x00"  # valid Avro, but PostgreSQL text cannot hold NUL
    produce(
        bootstrap,
        dets,
        [
            (cam.encode(), enc(detections_event(cam, 0, ["car"]))),
            (cam.encode(), enc(bad)),
            (cam.encode(), enc(detections_event(cam, 2, ["bus"]))),
        ],
    )
    s = _settings(bootstrap, pg_dsn, stack.redis_url, dets, dlq, unique)
    _run(s)
    with psycopg.connect(pg_dsn) as conn:
        seqs = conn.execute("SELECT frame_seq FROM frames WHERE camera_id=%s ORDER BY 1", (cam,)).fetchall()
        assert seqs == [(0,), (2,)]
        assert conn.execute(
            "SELECT next_offset FROM projection_offsets WHERE consumer_group=%s", (s.group_id,)
        ).fetchone() == (3,)
    letters = [codec("DeadLetter").decode(m.value()) for m in read_all(bootstrap, dlq, 1)]
    assert [(d["source_offset"], d["error_type"]) for d in letters] == [(1, "pg-write")]


def test_live_cache_never_goes_back_in_time(stack: StackSettings, unique: str) -> None:
    from projections.cache import LiveCache

    cam = f"cam-{unique}"
    cache = LiveCache(redis.Redis.from_url(stack.redis_url))
    cache.update([detections_event(cam, 5, ["car"])], publish=False)
    cache.update([detections_event(cam, 3, ["bus"])], publish=False)  # older event replayed
    live = json.loads(redis.Redis.from_url(stack.redis_url).hget(live_key(cam), "json"))
    assert live["frame_seq"] == 5


def test_a_redis_outage_does_not_stop_projection(
    bootstrap: str, pg_dsn: str, make_topic: Callable[..., str], unique: str
) -> None:
    dets, dlq = make_topic("dets", 1), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    produce(bootstrap, dets, [(cam.encode(), codec("DetectionsProduced").encode(detections_event(cam, 0, ["car"])))])
    s = _settings(bootstrap, pg_dsn, "redis://127.0.0.1:1/0", dets, dlq, unique)  # nothing listens on port 1
    _run(s)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT frames FROM cameras WHERE camera_id=%s", (cam,)).fetchone() == (1,)


def test_an_assignment_while_postgresql_restarts_waits_for_it(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    # A chaos run restarted PostgreSQL just before a rebalance: reading the stored offsets in the assignment callback
    # raised AdminShutdown through the consumer's poll and the projector exited. It now reconnects and reads them.
    dets, dlq = make_topic("dets", 1), make_topic("dlq", 1)
    p = Projector(_settings(bootstrap, pg_dsn, stack.redis_url, dets, dlq, unique))
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (p.conn.info.backend_pid,))
        p._on_assign(p.consumer, [TopicPartition(dets, 0)])
        assert [(tp.topic, tp.partition) for tp in p.consumer.assignment()] == [(dets, 0)]
        assert p.conn.execute("SELECT 1").fetchone() == (1,), "the projector's connection was not replaced"
    finally:
        p.consumer.close()
        p.dlq.flush(5)
        p.conn.close()


def test_low_score_detections_reach_no_read_model_cache_or_count(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    """Inference emits boxes from 0.1 for the tracker; the projector keeps only those above the event's
    report_confidence (0.25), so tables, per-minute counts and the live cache read as before the low tier."""
    dets, dlq = make_topic("dets", 1), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    ev = detections_event(cam, 0, ["car", "car", "bus"])
    for d, conf in zip(ev["detections"], (0.9, 0.25, 0.12), strict=True):
        d["confidence"] = conf
    ev["report_confidence"] = 0.25
    produce(bootstrap, dets, [(cam.encode(), codec("DetectionsProduced").encode(ev))])
    _run(_settings(bootstrap, pg_dsn, stack.redis_url, dets, dlq, unique))
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT frames, detections FROM cameras WHERE camera_id=%s", (cam,)).fetchone() == (1, 1)
        rows = conn.execute("SELECT class_name, confidence FROM detections WHERE camera_id=%s", (cam,)).fetchall()
        assert [(c, round(x, 2)) for c, x in rows] == [("car", 0.9)]
    live = json.loads(redis.Redis.from_url(stack.redis_url).hget(live_key(cam), "json"))
    assert [d["confidence"] for d in live["detections"]] == [pytest.approx(0.9)]
