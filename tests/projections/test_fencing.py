"""Fencing by compare-and-set on the stored offsets: a zombie projector writes nothing and re-seeks."""

from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition

from deploy.stack.settings import StackSettings
from eventbus.batching import poll_batch
from projections import Projector
from projections.db import connect
from schemas import codec
from tests.kafka_helpers import produce
from tests.projections.factories import detections_event
from tests.projections.readmodels import scratch_schema, settings_for

pytestmark = pytest.mark.integration


def _frames(dsn: str, schema: str) -> tuple[int, int]:
    with connect(dsn, schema) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (camera_id, frame_seq)) FROM frames").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_a_zombie_with_stale_offsets_writes_nothing_and_reseeks(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    dets, dlq = make_topic("dets", 1), make_topic("dlq", 1)
    cam = f"cam-{unique}"
    enc = codec("DetectionsProduced").encode
    produce(bootstrap, dets, [(cam.encode(), enc(detections_event(cam, i, ["car"]))) for i in range(50)])
    with scratch_schema(pg_dsn) as schema:
        s = settings_for(
            bootstrap,
            pg_dsn,
            stack.redis_url,
            {"DetectionsProduced": dets},
            dlq,
            f"g-{unique}",
            schema,
            update_redis=False,
        )
        zombie = Projector(s, replay=True)  # assigned by hand, like a worker that has not noticed its revocation
        key = (dets, 0)
        zombie.fence.load(zombie.conn, [key])  # expects "no row": offset 0
        zombie.consumer.assign([TopicPartition(dets, 0, 0)])

        live = Projector(s)  # the partition's new owner projects everything
        live.run(idle_exit_s=3.0)
        assert _frames(pg_dsn, schema) == (50, 50)

        msgs = []
        while len(msgs) < 20:
            msgs += poll_batch(zombie.consumer, 20 - len(msgs), 1.0)
        zombie.handle_batch(msgs)  # its batch 0..19: the CAS finds 50, not "no row"
        assert _frames(pg_dsn, schema) == (50, 50)
        assert zombie.fence.expected[key] == 50  # re-read the stored offset (and sought there: see below)

        produce(bootstrap, dets, [(cam.encode(), enc(detections_event(cam, i, ["bus"]))) for i in range(50, 60)])
        more = []
        while len(more) < 10:
            more += poll_batch(zombie.consumer, 10 - len(more), 1.0)
        assert [m.offset() for m in more] == list(range(50, 60))  # not 20.., what it had fetched
        zombie.handle_batch(more)  # now it expects what is stored: it writes
        zombie.close()
        assert _frames(pg_dsn, schema) == (60, 60)
        with connect(pg_dsn, schema) as conn:
            assert conn.execute("SELECT frames FROM cameras WHERE camera_id = %s", (cam,)).fetchone() == (60,)
            assert conn.execute("SELECT next_offset FROM projection_offsets").fetchall() == [(60,)]
