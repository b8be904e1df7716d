"""Redis losing its keys (FLUSHALL, a restart without persistence): counters never count on from nothing; the
projector rebuilds the lost cameras' keys from PostgreSQL, whether more events come or not."""

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis

from deploy.stack.settings import StackSettings
from projections import Projector
from projections.cache import LiveCache, counts_key, live_key, rebuild_redis_from_pg, status_key
from projections.db import connect
from schemas.serde import codec
from tests.kafka_helpers import wait_until
from tests.projections.factories import mixed_stream, vehicle_event
from tests.projections.readmodels import end_offsets, make_topics, offsets_total, produce_records, scratch_schema
from tests.projections.readmodels import settings_for as _settings_for

pytestmark = pytest.mark.integration


def _keys(client: redis.Redis, cams: list[str]) -> dict[str, dict[str, Any]]:
    """Every key of `cams`, its JSON documents parsed (the rebuild writes the same values, not the same bytes)."""
    out: dict[str, dict[str, Any]] = {}
    for key in (f(cam) for cam in cams for f in (live_key, status_key, counts_key)):
        h: dict[str, Any] = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
        if "json" in h:
            h["json"] = json.loads(h["json"])
        out[key] = h
    return out


def test_a_counted_camera_whose_counters_are_gone_is_refused_and_reported(stack: StackSettings, unique: str) -> None:
    cam = f"cam-{unique}"
    client = redis.Redis.from_url(stack.redis_url)
    cache = LiveCache(client)
    e1, e2 = vehicle_event(cam, 1), vehicle_event(cam, 2)
    assert cache.update([], vehicles=[(e1, 0, 10)], publish=False) == set()  # first ever: the key is made
    client.delete(counts_key(cam))  # what a flush does to it
    lost = cache.update([], vehicles=[(e2, 0, 11)], publish=False, counted_before={cam})
    assert lost == {cam}
    assert client.exists(counts_key(cam)) == 0, "an increment on a lost counter would count on from nothing"
    assert cache.update([], vehicles=[(e2, 0, 11)], publish=False) == set()  # not counted before: made anew


def test_the_projector_rebuilds_lost_keys_from_postgresql_busy_or_idle(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    cams = [f"cam-{unique}-{i}" for i in range(3)]
    topics = make_topics(make_topic, 2)
    produce_records(bootstrap, topics, mixed_stream(cams, 60))
    client = redis.Redis.from_url(stack.redis_url)
    with scratch_schema(pg_dsn) as schema:
        group = f"g-{unique}"
        s = _settings_for(bootstrap, pg_dsn, stack.redis_url, topics, make_topic("dlq", 1), group, schema)
        s.fence_check_s = 0.5
        p = Projector(s)
        t = threading.Thread(target=p.run)
        t.start()
        try:

            def expected() -> dict[str, dict[str, Any]]:
                scratch = redis.Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/14")
                with connect(pg_dsn, schema) as conn:
                    rebuild_redis_from_pg(conn, scratch, cams)
                want = _keys(scratch, cams)
                scratch.flushdb()
                return want

            def drained() -> bool:
                return offsets_total(pg_dsn, schema, group) >= end_offsets(bootstrap, topics)

            wait_until(drained, 60, "the projector to reach the end")
            wait_until(lambda: _keys(client, cams) == expected(), 30, "the incremental keys")
            # 1. lost while idle: found by the periodic check and rebuilt
            client.delete(*[k for k in _keys(client, cams)])
            wait_until(lambda: _keys(client, cams) == expected(), 30, "the keys lost while idle to be rebuilt")
            # 2. lost, then more vehicles counted: the first increment is refused and the camera rebuilt
            before = int(client.hget(counts_key(cams[1]), "vehicles") or 0)
            client.delete(*[k for k in _keys(client, cams)])
            t0 = vehicle_event(cams[1], 0)["crossed_at"]
            later = [vehicle_event(cams[1], 1000 + i, at=t0 + timedelta(seconds=i)) for i in range(3)]
            enc = codec("VehicleCounted").encode
            produce_records(bootstrap, topics, [("VehicleCounted", cams[1].encode(), enc(e)) for e in later])
            wait_until(drained, 60, "the projector to project the later vehicles")
            wait_until(lambda: _keys(client, cams) == expected(), 30, "the keys lost before more events to be rebuilt")
            assert int(client.hget(counts_key(cams[1]), "vehicles") or 0) == before + 3
        finally:
            p.stop()
            t.join(30)
