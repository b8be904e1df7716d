"""Redis caches: built incrementally by the projector, and rebuilt from PostgreSQL to the same state."""

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from deploy.stack.settings import StackSettings
from projections import Projector
from projections.cache import LiveCache, counts_key, live_key, rebuild_redis_from_pg, status_key
from projections.db import connect
from tests.kafka_helpers import wait_until
from tests.projections.factories import mixed_stream, vehicle_event
from tests.projections.readmodels import end_offsets, make_topics, offsets_total, produce_records, scratch_schema
from tests.projections.readmodels import settings_for as _settings_for

pytestmark = pytest.mark.integration


def _state(client: redis.Redis, cams: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cam in cams:
        for key in (live_key(cam), status_key(cam), counts_key(cam)):
            h = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
            if "json" in h:
                h["json"] = json.loads(h["json"])
            out[key] = h
    return out


def test_redis_rebuilt_from_postgresql_equals_the_incremental_one(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    cams = [f"cam-{unique}-{i}" for i in range(3)]
    topics = make_topics(make_topic, 2)
    produce_records(bootstrap, topics, mixed_stream(cams, 120))
    client = redis.Redis.from_url(stack.redis_url)
    with scratch_schema(pg_dsn) as schema:
        group = f"g-{unique}"
        s = _settings_for(bootstrap, pg_dsn, stack.redis_url, topics, make_topic("dlq", 1), group, schema)
        s.max_batch = 37  # many batches: the Lua guards see replays across batch boundaries
        p = Projector(s)
        t = threading.Thread(target=p.run, kwargs={"idle_exit_s": 3.0})
        t.start()
        end = end_offsets(bootstrap, topics)
        wait_until(lambda: offsets_total(pg_dsn, schema, group) >= end, 60, "the projector to reach the end")
        t.join(30)
        incremental = _state(client, cams)
        assert incremental[counts_key(cams[1])]["vehicles"] != "0"
        assert incremental[live_key(cams[1])]["json"]["detections"]
        assert incremental[status_key(cams[1])]["json"]["status"] == "ONLINE"
        with connect(pg_dsn, schema) as conn:
            rebuild_redis_from_pg(conn, client, cams)
        assert _state(client, cams) == incremental


def test_counts_apply_once_per_offset_and_roll_over_by_day(stack: StackSettings, unique: str) -> None:
    cam = f"cam-{unique}"
    client = redis.Redis.from_url(stack.redis_url)
    cache = LiveCache(client)
    from datetime import timedelta

    e1, e2 = vehicle_event(cam, 1), vehicle_event(cam, 2)
    later = vehicle_event(cam, 3, at=e1["crossed_at"] + timedelta(days=1))
    cache.update([], vehicles=[(e1, 0, 10), (e2, 0, 11)], publish=False)
    cache.update([], vehicles=[(e1, 0, 10), (e2, 0, 11)], publish=False)  # replayed: no change
    assert client.hget(counts_key(cam), "vehicles") == b"2"
    cache.update([], vehicles=[(later, 0, 12)], publish=False)  # next day: counters restart
    assert client.hget(counts_key(cam), "vehicles") == b"1"
    cache.update([], vehicles=[(vehicle_event(cam, 4), 0, 13)], publish=False)  # late, older day: only `off` moves
    h = client.hgetall(counts_key(cam))
    assert (h[b"vehicles"], h[b"off"], h[b"day"]) == (b"1", b"13", later["crossed_at"].date().isoformat().encode())
