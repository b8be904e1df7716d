"""Turning movements and camera stills through the projector: real Kafka in, PostgreSQL and Redis out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import pytest
import redis

from deploy.stack.settings import StackSettings
from projections import Projector, ProjectorSettings
from projections.snapshots import snapshot_key
from schemas import codec
from tests.kafka_helpers import produce, read_all
from tests.projections.factories import T0, movement_event

pytestmark = pytest.mark.integration


def _run(s: ProjectorSettings) -> None:
    t = threading.Thread(target=Projector(s).run, kwargs={"idle_exit_s": 3.0})
    t.start()
    t.join(60)
    assert not t.is_alive()


def _settings(bootstrap: str, pg_dsn: str, redis_url: str, unique: str, **topics: str) -> ProjectorSettings:
    blank = ("cameras", "camera_status", "detections", "vehicle_events", "traffic_stats", "incidents")
    return ProjectorSettings(
        kafka_bootstrap=bootstrap,
        pg_dsn=pg_dsn,
        redis_url=redis_url,
        group_id=f"test-mov-{unique}",
        metrics_port=0,
        **{f"{k}_topic": "" for k in blank},
        **topics,
    )


def test_movements_are_projected_once_into_events_and_minute_counts(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    mov, snaps, dlq = make_topic("mov", 2), make_topic("snap", 2), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    enc = codec("TurningMovement").encode
    moves = [movement_event(cam, i, *od) for i, od in enumerate([("n", "s"), ("n", "s"), ("s", "n"), ("w", "e")])]
    moves.append(movement_event(cam, 9, "n", "s", at=T0 + timedelta(minutes=1), class_name="truck"))
    records = [(cam.encode(), enc(m)) for m in moves]
    produce(bootstrap, mov, [*records, records[0], (cam.encode(), b"not avro")])  # a replayed event, a poison one
    s = _settings(bootstrap, pg_dsn, stack.redis_url, unique, movements_topic=mov, snapshots_topic=snaps)
    s = s.model_copy(update={"dlq_topic": dlq})
    _run(s)
    q = (
        "SELECT minute, origin_zone_id, destination_zone_id, class_name, origin_name, vehicles"
        " FROM movement_counts_minute WHERE camera_id = %s ORDER BY 1, 2, 3, 4"
    )
    with psycopg.connect(pg_dsn) as conn:
        n = conn.execute("SELECT count(*) FROM movement_events WHERE camera_id = %s", (cam,)).fetchone()
        assert n == (5,)
        assert conn.execute(q, (cam,)).fetchall() == [
            (T0, "n", "s", "car", "N", 2),
            (T0, "s", "n", "car", "S", 1),
            (T0, "w", "e", "car", "W", 1),
            (T0 + timedelta(minutes=1), "n", "s", "truck", "N", 1),
        ]
    letters = [codec("DeadLetter").decode(m.value()) for m in read_all(bootstrap, dlq, 1)]
    assert [(d["source_topic"], d["source_offset"]) for d in letters] == [(mov, 6)]
    # the same events again (another consumer group replaying the topic): nothing counted twice
    _run(s.model_copy(update={"group_id": f"test-mov-again-{unique}", "dlq_topic": make_topic("dlq2", 1)}))
    with psycopg.connect(pg_dsn) as conn:
        assert sum(r[5] for r in conn.execute(q, (cam,)).fetchall()) == 5


def test_the_newest_still_of_each_camera_is_kept_in_redis_for_the_ttl(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    snaps, dlq = make_topic("snap", 2), make_topic("dlq", 1)
    cams = [f"cam-{unique}-a", f"cam-{unique}-b"]
    enc = codec("FrameCaptured").encode

    def still(cam: str, seq: int) -> bytes:
        return enc(
            {
                "camera_id": cam,
                "frame_seq": seq,
                "captured_at": T0 + timedelta(seconds=seq),
                "source_pts_us": None,
                "width": 640,
                "height": 360,
                "encoding": "jpeg",
                "image": b"\xff\xd8jpeg-" + cam.encode() + str(seq).encode(),
                "source": "file",
            }
        )

    # these cameras keep stills as captured (blur_persons false; blurring has its own tests in tests/security)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "INSERT INTO cameras (camera_id, config)"
            " SELECT c, '{\"blur_persons\": false}'::jsonb FROM unnest(%s::text[]) c",
            (cams,),
        )
    # stills are never replayed: one sent before the projector starts is not kept (it seeks to the end)
    produce(bootstrap, snaps, [(cams[0].encode(), still(cams[0], 9))])
    s = _settings(bootstrap, pg_dsn, stack.redis_url, unique, movements_topic="", snapshots_topic=snaps)
    p = Projector(s.model_copy(update={"dlq_topic": dlq, "snapshot_ttl_s": 120}))
    t = threading.Thread(target=p.run, kwargs={"idle_exit_s": 10.0})
    t.start()
    deadline = time.monotonic() + 30
    while t.is_alive() and time.monotonic() < deadline and not p.consumer.assignment():
        time.sleep(0.2)
    assert t.is_alive(), "the projector stopped before it was assigned its partitions"
    time.sleep(1.0)  # the seek to the end is applied with the assignment
    # b's stills arrive out of order: the newest capture wins, not the last read (in one batch, and across two)
    produce(bootstrap, snaps, [(cams[0].encode(), still(cams[0], 1)), (cams[0].encode(), still(cams[0], 5))])
    produce(bootstrap, snaps, [(cams[1].encode(), still(cams[1], 7))])
    time.sleep(1.0)
    produce(bootstrap, snaps, [(cams[1].encode(), still(cams[1], 3))])
    t.join(60)
    assert not t.is_alive()
    r = redis.Redis.from_url(stack.redis_url)
    for cam, seq in zip(cams, (5, 7), strict=True):
        kept = r.hgetall(snapshot_key(cam))
        assert kept[b"jpeg"] == b"\xff\xd8jpeg-" + cam.encode() + str(seq).encode()
        assert int(kept[b"frame_seq"]) == seq and (int(kept[b"width"]), int(kept[b"height"])) == (640, 360)
        assert 0 < r.ttl(snapshot_key(cam)) <= 120
    with psycopg.connect(pg_dsn) as conn:  # stills never reach PostgreSQL
        assert conn.execute("SELECT count(*) FROM frames WHERE camera_id = ANY(%s)", (cams,)).fetchone() == (0,)
        conn.execute("DELETE FROM cameras WHERE camera_id = ANY(%s)", (cams,))
    r.delete(*(snapshot_key(c) for c in cams))
    r.close()
