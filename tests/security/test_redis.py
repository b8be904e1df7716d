"""Redis under abuse and failure, against real redis-servers: a query-cache flood never evicts counters or rate-limit
buckets; a Redis outage after the PostgreSQL commit is repaired from PostgreSQL; a wrong password fails start-up
naming the setting; rediss:// really speaks TLS. Throwaway redis-servers (Debian's binary, free loopback ports) stand
in wherever a test must fill, stop or lock one; the stack's Redis (16379) is never filled, stopped or reconfigured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from starlette.testclient import TestClient

from deploy.stack.redis import RedisCacheSettings
from deploy.stack.settings import StackSettings
from projections import Projector
from projections import metrics as pm
from projections.api import ApiSettings, create_app
from projections.api.keys import create_key
from projections.api.ratelimit import rate_key
from projections.cache import counts_key, rebuild_redis_from_pg
from projections.db import connect
from projections.rediskit import QueryCache, RedisStartupError, async_client, check_sync, sync_client
from schemas import codec
from tests.kafka_helpers import wait_until
from tests.projections.api.conftest import DAY, add_camera, add_counts, count_rows, free_port, set_live
from tests.projections.factories import vehicle_event
from tests.projections.readmodels import end_offsets, offsets_total, produce_records, scratch_schema
from tests.projections.readmodels import settings_for as _settings_for

pytestmark = pytest.mark.integration

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "its-right-pass-7f3a"


@contextlib.contextmanager
def throwaway_redis(*args: str, port: int | None = None) -> Iterator[int]:
    """A redis-server on a free loopback port (or `port`), no persistence; stopped (and its files removed) after."""
    port = port or free_port()
    d = Path(tempfile.mkdtemp(prefix="its-redis-sec-"))
    proc = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(d), "--save", "", "--appendonly", "no", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, f"{REDIS} exited with {proc.returncode}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"{REDIS} did not listen on {port} within 15 s"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(d, ignore_errors=True)


def _api_settings(pg_dsn: str, bootstrap: str, redis_url: str, **kw: Any) -> ApiSettings:
    return ApiSettings(
        pg_dsn=pg_dsn,
        redis_url=redis_url,
        kafka_bootstrap=bootstrap,
        metrics_port=0,
        events_channel=f"its:events:test:{os.urandom(4).hex()}",
        **kw,
    )


@pytest.fixture
def seeded(pg_dsn: str, unique: str) -> Iterator[tuple[str, dict[str, str], str]]:
    """A camera with counts in PostgreSQL and an API key (rate 1000/min): (camera, auth headers, key id)."""
    cam = f"sec-redis-{unique}"
    key_id, token = create_key(pg_dsn, f"test-redis-{unique}", ["read"], 1000)
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_counts(conn, count_rows(cam, 30))
    try:
        yield cam, {"Authorization": f"Bearer {token}"}, key_id
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))
            conn.execute("DELETE FROM cameras WHERE camera_id = %s", (cam,))
            conn.execute("DELETE FROM vehicle_counts_minute WHERE camera_id = %s", (cam,))


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _counts_url(cam: str, i: int) -> str:
    start = DAY + timedelta(minutes=i)
    end = start + timedelta(hours=1)
    return f"/v1/cameras/{cam}/counts?bucket=1m&from={start:%Y-%m-%dT%H:%M:%SZ}&to={end:%Y-%m-%dT%H:%M:%SZ}"


# -- 1. the query cache never evicts the state ------------------------------------------------------------------
def test_stack_state_redis_never_evicts_and_cache_redis_is_lru(stack: StackSettings) -> None:
    state = redis.Redis.from_url(stack.redis_url)
    cache_settings = RedisCacheSettings()
    cache = redis.Redis.from_url(cache_settings.url)
    try:
        assert state.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        try:
            cfg = cache.config_get("maxmemory*")
        except redis.ConnectionError:
            pytest.fail(f"the stack's query-cache Redis ({cache_settings.url}) is not running: `itscam stack up`")
        assert cfg["maxmemory-policy"] == "allkeys-lru"
        assert int(str(cfg["maxmemory"])) > 0
    finally:
        state.close()
        cache.close()


def test_cache_flood_in_its_own_instance_leaves_counters_and_buckets(
    pg_dsn: str, bootstrap: str, seeded: tuple[str, dict[str, str], str]
) -> None:
    """ITS_API_CACHE_REDIS_URL set: the cache instance (a throwaway one with the stack's cache policy, 4 MB) is flooded
    past its maxmemory; it evicts cache entries only and the state instance keeps every counter and bucket."""
    cam, auth, key_id = seeded
    with (
        throwaway_redis("--maxmemory-policy", "noeviction") as state_port,
        throwaway_redis("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru") as cache_port,
    ):
        state = redis.Redis(port=state_port)
        cache = redis.Redis(port=cache_port)
        set_live(state, cam, DAY, _today())
        s = _api_settings(
            pg_dsn, bootstrap, f"redis://127.0.0.1:{state_port}/0", cache_redis_url=f"redis://127.0.0.1:{cache_port}/0"
        )
        with TestClient(create_app(s)) as c:
            assert c.get(_counts_url(cam, 0), headers=auth).status_code == 200
            assert state.exists(rate_key(key_id)) and state.exists(counts_key(cam))
            assert cache.dbsize() == 1 and state.keys("its:qc:*") == []  # the answer went to the cache instance
            # the flood: 12 MB of cache entries into a 4 MB instance
            blob = os.urandom(64 * 1024)
            for i in range(192):
                cache.set(f"its:qc:flood:{i}", blob, px=600_000)
            assert int(cache.info("stats")["evicted_keys"]) > 0
            for i in range(1, 40):  # and the API's own cache writes keep coming
                assert c.get(_counts_url(cam, i), headers=auth).status_code == 200
            assert state.exists(rate_key(key_id)), "the rate-limit bucket was evicted"
            assert state.hget(counts_key(cam), "vehicles") == b"5", "the counters were evicted"
            live = c.get(f"/v1/cameras/{cam}/live", headers=auth)
            assert live.status_code == 200 and live.json()["counts_today"]["vehicles"] == 5
        state.close()
        cache.close()


def test_cache_flood_in_the_state_instance_stays_bounded(
    pg_dsn: str, bootstrap: str, seeded: tuple[str, dict[str, str], str]
) -> None:
    """ITS_API_CACHE_REDIS_URL unset: the cache shares the state instance (noeviction, 8 MB). A flood of cache
    entries stops at half its maxmemory; counters and buckets stay and still take writes; the API answers."""
    cam, auth, key_id = seeded
    with throwaway_redis("--maxmemory", "8mb", "--maxmemory-policy", "noeviction") as port:
        state = redis.Redis(port=port)
        set_live(state, cam, DAY, _today())

        async def flood() -> tuple[int, int]:
            qc = QueryCache(async_client(f"redis://127.0.0.1:{port}/0"), separate=False)
            stored = sum([await qc.set(f"its:qc:flood:{i}", os.urandom(32 * 1024), 600_000) for i in range(400)])
            await qc.aclose()
            return stored, qc.skipped

        stored, skipped = asyncio.run(flood())  # 12.5 MB offered to an 8 MB instance
        assert stored > 0 and skipped > 0
        info = state.info("memory")
        assert int(info["used_memory"]) < int(info["maxmemory"]) * 0.75, "the cache filled the state instance"
        assert all(state.pttl(k) > 0 for k in state.scan_iter("its:qc:*")), "a cache entry without a TTL"
        s = _api_settings(pg_dsn, bootstrap, f"redis://127.0.0.1:{port}/0")
        with TestClient(create_app(s)) as c:
            for i in range(20):
                assert c.get(_counts_url(cam, i), headers=auth).status_code == 200
            live = c.get(f"/v1/cameras/{cam}/live", headers=auth)
            assert live.status_code == 200 and live.json()["counts_today"]["vehicles"] == 5
        assert state.exists(rate_key(key_id))
        assert state.hincrby(counts_key(cam), "vehicles", 1) == 6  # the state instance still takes writes
        # filled to the brim (by state, or anything else): a cache write is a miss, never an error; the API's
        # requests, whose rate-limit token Redis then refuses to write, get a 503 to retry, never a 500
        with contextlib.suppress(redis.ResponseError):
            for i in range(1000):
                state.set(f"filler:{i}", os.urandom(32 * 1024))
        # the fill can stop a few KB short (a refused 32 KB argument frees its buffer): lower the ceiling under what
        # is used, so every write is refused from here on, whatever its size
        used = int(state.info("memory")["used_memory"])
        state.config_set("maxmemory", str(used - 512 * 1024))

        async def write_full() -> bool:
            qc = QueryCache(async_client(f"redis://127.0.0.1:{port}/0"), separate=True)  # no guard: Redis refuses
            try:
                return await qc.set("its:qc:one-more", b"x" * 1024, 600_000)
            finally:
                await qc.aclose()

        assert asyncio.run(write_full()) is False
        with TestClient(create_app(s)) as c:
            assert c.get(_counts_url(cam, 0), headers=auth).status_code == 503
        assert state.hget(counts_key(cam), "vehicles") == b"6" and state.exists(rate_key(key_id))
        state.close()


# -- 2. a Redis outage after the PostgreSQL commit is repaired ----------------------------------------------------
def test_counters_rebuilt_from_postgresql_after_a_redis_outage(
    bootstrap: str, pg_dsn: str, make_topic: Callable[..., str], unique: str
) -> None:
    cam = f"cam-outage-{unique}"
    topics = {"VehicleCounted": make_topic("vehicles", 1)}
    enc = codec("VehicleCounted")

    def produce(first: int, n: int) -> None:
        recs: list[tuple[str, bytes, bytes | None]] = [
            ("VehicleCounted", cam.encode(), enc.encode(vehicle_event(cam, i))) for i in range(first, first + n)
        ]
        produce_records(bootstrap, topics, recs)

    def vehicles(client: redis.Redis) -> bytes | None:
        with contextlib.suppress(redis.RedisError):
            v = client.hget(counts_key(cam), "vehicles")
            return v if isinstance(v, bytes) else None
        return None

    port = free_port()
    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
    errors0 = pm.CACHE_ERRORS._value.get()
    repaired0 = pm.CACHE_REPAIRS.labels("repaired")._value.get()
    with scratch_schema(pg_dsn) as schema, contextlib.ExitStack() as es:
        group = f"g-{unique}"
        s = _settings_for(bootstrap, pg_dsn, f"redis://127.0.0.1:{port}/0", topics, make_topic("dlq", 1), group, schema)
        first = contextlib.ExitStack()
        first.enter_context(throwaway_redis(port=port))
        es.callback(first.close)
        p = Projector(s)
        t = threading.Thread(target=p.run)
        t.start()
        es.callback(t.join, 30)
        es.callback(p.stop)
        produce(0, 10)
        wait_until(lambda: vehicles(client) == b"10", 60, "the counters at 10")
        first.close()  # Redis goes down: the next events commit to PostgreSQL, their Redis update fails
        produce(10, 7)
        wait_until(lambda: offsets_total(pg_dsn, schema, group) >= 17, 60, "the next 7 in PostgreSQL")
        wait_until(lambda: p.repair.dirty == {cam}, 10, "the camera marked dirty")
        assert pm.CACHE_ERRORS._value.get() > errors0  # and counted
        with throwaway_redis(port=port):  # back, empty (no persistence): the repair rebuilds from PostgreSQL
            wait_until(lambda: vehicles(client) == b"17", 30, "the counters repaired")
            assert pm.CACHE_REPAIRS.labels("repaired")._value.get() > repaired0
            assert not p.repair.dirty
            produce(17, 3)  # and it counts on from there, each event once
            wait_until(lambda: vehicles(client) == b"20", 30, "the counters at 20")
            repaired = client.hgetall(counts_key(cam))
            with connect(pg_dsn, schema) as conn:
                total = conn.execute(
                    "SELECT sum(vehicles) FROM vehicle_counts_minute WHERE camera_id = %s", (cam,)
                ).fetchone()
                assert total is not None and int(total[0]) == 20
                rebuild_redis_from_pg(conn, client, [cam])
            assert client.hgetall(counts_key(cam)) == repaired  # equal to what PostgreSQL says
            p.stop()
            t.join(30)
        assert end_offsets(bootstrap, topics) == 20
    client.close()


# -- 3. a wrong password fails start-up, naming the setting -------------------------------------------------------
def test_wrong_redis_password_fails_startup(
    bootstrap: str, pg_dsn: str, make_topic: Callable[..., str], unique: str, tmp_path: Path
) -> None:
    wrong = "wrong-pass-Zq81"
    with throwaway_redis("--requirepass", PASSWORD) as port:
        bad_url = f"redis://:{wrong}@127.0.0.1:{port}/0"
        # the projector
        topics = {"VehicleCounted": make_topic("vehicles", 1)}
        with scratch_schema(pg_dsn) as schema:
            s = _settings_for(bootstrap, pg_dsn, bad_url, topics, make_topic("dlq", 1), f"g-{unique}", schema)
            with pytest.raises(RedisStartupError) as err:
                Projector(s)
            msg = str(err.value)
            assert "ITS_REDIS_URL" in msg and wrong not in msg and PASSWORD not in msg
            # no password at all is refused the same way
            s.redis_url = type(s.redis_url)(f"redis://127.0.0.1:{port}/0")
            with pytest.raises(RedisStartupError, match="ITS_REDIS_URL"):
                Projector(s)
            # the right one starts
            s.redis_url = type(s.redis_url)(f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
            Projector(s).close()
        # the API, in-process (the lifespan refuses to start) ...
        with (
            pytest.raises(RedisStartupError, match="ITS_REDIS_URL"),
            TestClient(create_app(_api_settings(pg_dsn, bootstrap, bad_url))),
        ):
            pass
        # ... and as `itscam api`: the process exits, its output names the setting and never the password
        env = {
            **os.environ,
            "ITS_PG_DSN": pg_dsn,
            "ITS_REDIS_URL": bad_url,
            "ITS_KAFKA_BOOTSTRAP": bootstrap,
            "ITS_API_PORT": str(free_port()),
            "ITS_API_METRICS_PORT": "0",
            "ITS_API_WORKERS": "1",
        }
        itscam = Path(sys.executable).with_name("itscam")
        out = subprocess.run([str(itscam), "api"], env=env, capture_output=True, text=True, timeout=60)
        text = out.stdout + out.stderr
        assert out.returncode != 0, text
        assert "ITS_REDIS_URL" in text and "AUTH failed" in text, text
        assert wrong not in text and PASSWORD not in text


# -- 4. rediss:// means TLS, verified ---------------------------------------------------------------------------
def test_rediss_speaks_tls_with_verification(stack: StackSettings) -> None:
    plain = f"rediss://127.0.0.1:{stack.redis_port}/0"  # the stack's Redis speaks no TLS
    client = sync_client(plain, socket_connect_timeout=2, socket_timeout=2)
    kw = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert kw["ssl_cert_reqs"] == "required" and kw["ssl_check_hostname"] is True
    with pytest.raises(RedisStartupError, match="TLS connection to the Redis of ITS_REDIS_URL"):
        check_sync(client, plain, "ITS_REDIS_URL")
    client.close()

    # a listener that records the first bytes it gets: a TLS ClientHello (record type 0x16, version 3.x)
    got: list[bytes] = []
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]

        def accept() -> None:
            conn, _ = srv.accept()
            with conn:
                conn.settimeout(5)
                got.append(conn.recv(5))

        th = threading.Thread(target=accept)
        th.start()
        c = sync_client(f"rediss://127.0.0.1:{port}/0", socket_connect_timeout=2, socket_timeout=2)
        with pytest.raises(redis.RedisError):
            c.ping()
        c.close()
        th.join(10)
    assert got and got[0][:1] == b"\x16" and got[0][1:2] == b"\x03", got

    # ITS_REDIS_CA_FILE is the CA used for rediss:// URLs
    os.environ["ITS_REDIS_CA_FILE"] = "/nonexistent/its-ca.pem"
    try:
        assert sync_client(plain).connection_pool.connection_kwargs["ssl_ca_certs"] == "/nonexistent/its-ca.pem"
    finally:
        del os.environ["ITS_REDIS_CA_FILE"]


def test_api_refuses_to_start_on_rediss_to_a_plain_server(stack: StackSettings, pg_dsn: str, bootstrap: str) -> None:
    s = _api_settings(pg_dsn, bootstrap, f"rediss://127.0.0.1:{stack.redis_port}/0", ready_timeout_s=2.0)
    with pytest.raises(RedisStartupError, match="ITS_REDIS_URL"), TestClient(create_app(s)):
        pass
