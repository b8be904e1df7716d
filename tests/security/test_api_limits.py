"""The API holds under abuse (issue 18, section 4), tried for real against the running PostgreSQL, Redis and Kafka:
SSE floods per key and per worker, a revoked key's stream, idle and lifetime limits, a slow query cancelled by
statement_timeout, bodies refused by size before they are read, If-Match/ETag, expired keys, the bounded key cache,
downloads bounded, and /ready with Kafka unreachable."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from itscam.main import main
from projections.api import ApiSettings, create_app
from projections.api.deps import deps
from projections.api.keys import create_key
from projections.api.limits import Slots, StreamLeases, lease_key
from schemas.source_policy import SourcePolicy
from tests.projections.api.conftest import add_camera, api_env, free_port, is_problem, running_api

pytestmark = pytest.mark.integration

#: what an answer must never show: exception text, SQL, driver internals
LEAKS = ("Traceback", "Error(", "KafkaError", "_MSG_TIMED_OUT", "_TRANSPORT", "pg_sleep", "canceling statement",
         "psycopg", "OperationalError", "Connection refused", "Errno")  # fmt: skip


def _no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked into an answer: {text}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _closed_port() -> int:
    return free_port()  # bound then released: nothing listens there


@pytest.fixture
def keys(pg_dsn: str) -> Iterator[Callable[..., str]]:
    """Factory: a fresh key's token; deleted after the test."""
    made: list[str] = []

    def make(scopes: str = "admin", expires_at: datetime | None = None) -> str:
        key_id, token = create_key(pg_dsn, f"sec-{uuid.uuid4().hex[:6]}", scopes.split(","), 1_000_000, expires_at)
        made.append(key_id)
        return token

    yield make
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM api_keys WHERE key_id = ANY(%s)", (made,))


@pytest.fixture
def settings(api_settings: ApiSettings) -> ApiSettings:
    """The API's settings on the local stack, with a cameras topic of this test (tests/projections/api/conftest.py)."""
    return api_settings


def _lines(resp: httpx.Response) -> Iterator[str]:
    yield from resp.iter_lines()


def _until(lines: Iterator[str], want: str, within_s: float) -> float:
    """Seconds until the stream sent the line `want` (its last line before it ended)."""
    t0 = time.monotonic()
    for line in lines:
        if line == want:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < within_s, f"no {want!r} within {within_s} s"
    pytest.fail(f"the stream ended without {want!r}")


# -- server-sent events ----------------------------------------------------------------------------------------------
@pytest.fixture
def sse_server(settings: ApiSettings, tmp_path: Path) -> Iterator[str]:
    env = api_env(
        settings,
        free_port(),
        ITS_API_SSE_HEARTBEAT_S="0.5",
        ITS_API_SSE_MAX_PER_KEY="2",
        ITS_API_SSE_MAX_PER_WORKER="3",
        ITS_API_SSE_IDLE_TIMEOUT_S="3",
        ITS_API_KEY_CACHE_S="1",
    )
    with running_api(env, tmp_path / "api.log") as url:
        yield url


def test_sse_flood_is_refused_per_key_and_per_worker(sse_server: str, keys: Callable[..., str]) -> None:
    a, b, c = (_bearer(keys("read")) for _ in range(3))
    url = f"{sse_server}/v1/stream"
    with httpx.Client(timeout=10) as http, contextlib.ExitStack() as open_streams:
        first = open_streams.enter_context(http.stream("GET", url, headers=a))
        second = open_streams.enter_context(http.stream("GET", url, headers=a))
        assert first.status_code == second.status_code == 200
        third = http.get(url, headers=a)  # the key's N+1th stream
        body = is_problem(third, 429)
        assert int(third.headers["retry-after"]) >= 1 and "per key" in body["detail"]
        with http.stream("GET", url, headers=b) as other:
            assert other.status_code == 200
            over = http.get(url, headers=c)  # another key, but the worker serves its M already
            assert "worker" in is_problem(over, 429)["detail"] and over.headers["retry-after"]
        # a closed stream gives its slot back
        deadline = time.monotonic() + 10
        while True:
            with http.stream("GET", url, headers=c) as r:
                if r.status_code == 200:
                    break
            assert time.monotonic() < deadline, "a closed stream kept its slot"
            time.sleep(0.2)


def test_a_revoked_keys_stream_ends_within_the_key_cache_time(
    sse_server: str, keys: Callable[..., str], pg_dsn: str
) -> None:
    token = keys("read")
    with httpx.Client(timeout=10) as http, http.stream("GET", f"{sse_server}/v1/stream", headers=_bearer(token)) as s:
        assert s.status_code == 200
        lines = _lines(s)
        _until(lines, ": connected", 5)
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s", (token.split("_")[1],))
        took = _until(lines, ": closing key-invalid", 5)
        assert took <= 1 + 1 + 1  # key_cache_s + the 1 s recheck + slack
        assert list(lines) == [""]  # the blank line after the comment, and the stream is over


def test_an_idle_stream_ends(sse_server: str, keys: Callable[..., str]) -> None:
    with (
        httpx.Client(timeout=10) as http,
        http.stream("GET", f"{sse_server}/v1/stream", headers=_bearer(keys("read"))) as s,
    ):
        lines = _lines(s)
        _until(lines, ": connected", 5)
        took = _until(lines, ": closing idle", 8)  # heartbeats do not count as activity
        assert 2.5 <= took <= 5
        assert list(lines) == [""]


def test_a_stream_ends_at_its_lifetime(settings: ApiSettings, keys: Callable[..., str]) -> None:
    s = settings.model_copy(update={"sse_max_lifetime_s": 2.0, "sse_heartbeat_s": 0.5})
    app = create_app(s)
    # TestClient buffers a streamed answer: the stream must end by itself for the request to return at all
    with TestClient(app) as c:
        t0 = time.monotonic()
        resp = c.get("/v1/stream", headers=_bearer(keys("read")))
        assert resp.status_code == 200 and resp.text.rstrip().endswith(": closing lifetime")
        assert 1.5 <= time.monotonic() - t0 < 6
        assert app.state.deps.streams.held == 0


def test_slots_count_per_key_and_in_all() -> None:
    slots = Slots("downloads", per_key=2, total=3)
    assert slots.take("a") is None and slots.take("a") is None
    assert "per key" in (slots.take("a") or "")
    assert slots.take("b") is None
    assert "worker" in (slots.take("c") or "")
    slots.give_back("a")
    assert slots.take("c") is None and slots.held == 3
    assert slots.refusal("x").status_code == 429


def test_a_keys_stream_count_holds_over_all_workers(stack: StackSettings) -> None:
    import asyncio

    import redis.asyncio as aioredis

    from projections.api.scripts import ScriptRunner

    async def run() -> None:
        clients = [aioredis.Redis.from_url(stack.redis_url) for _ in range(2)]
        try:
            # two workers' lease tables on the same Redis; a 0.5 s lease, so one a dead worker left lapses
            one, two = (StreamLeases(ScriptRunner(c), per_key=2, lease_s=0.5) for c in clients)
            key = uuid.uuid4().hex[:12]
            assert await one.take(key, "s1") and await two.take(key, "s2")
            assert not await one.take(key, "s3") and not await two.take(key, "s3")
            assert await one.take(key, "s1")  # a renewal of a held lease is not a new stream
            await two.give_back(key, "s2")
            assert await two.take(key, "s3")
            await asyncio.sleep(0.7)  # neither renewed: both leases lapsed (a crashed worker's streams)
            assert await one.take(key, "s4") and await two.take(key, "s5")
            await clients[0].delete(lease_key(key))
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(run())


def test_downloads_are_bounded_per_worker(
    settings: ApiSettings, keys: Callable[..., str], pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    s = settings.model_copy(update={"export_max_per_worker": 0})
    params = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z", "format": "csv"}
    with TestClient(create_app(s)) as c:
        r = c.get(f"/v1/cameras/{cam}/counts", params=params, headers=_bearer(keys("read")))
        assert "downloads" in is_problem(r, 429)["detail"] and r.headers["retry-after"]
    with TestClient(create_app(settings)) as c:
        r = c.get(f"/v1/cameras/{cam}/counts", params=params, headers=_bearer(keys("read")))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert c.app.state.deps.exports.held == 0  # type: ignore[attr-defined]
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM cameras WHERE camera_id = %s", (cam,))


# -- PostgreSQL statement_timeout --------------------------------------------------------------------------------
def test_a_slow_query_is_cancelled_and_answered_503(settings: ApiSettings, keys: Callable[..., str]) -> None:
    s = settings.model_copy(update={"statement_timeout_ms": 300})
    app = create_app(s)

    async def slow(request: Request) -> Response:  # a route whose query outlives the budget
        async with deps(request).pool.connection() as conn:
            timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
            assert timeout is not None and timeout[0] == "300ms"
            await conn.execute("SELECT pg_sleep(3)")
        return Response("not reached")

    app.add_route("/v1/slow", slow)
    with TestClient(app) as c:
        t0 = time.monotonic()
        r = c.get("/v1/slow", headers=_bearer(keys("read")))
        assert time.monotonic() - t0 < 2.5  # cancelled at 300 ms, not after pg_sleep's 3 s
        body = is_problem(r, 503)
        assert "ITS_API_STATEMENT_TIMEOUT_MS" in body["detail"] and r.headers["retry-after"]
        _no_leak(r.text)
        # the pool's connection survived the cancel: the next request is served
        assert c.get("/v1/fleet", headers=_bearer(keys("read"))).status_code == 200


# -- bodies refused by size ------------------------------------------------------------------------------------------
def _raw(url: str, head: str, chunks: Iterable[bytes] = ()) -> tuple[int, bytes, int]:
    """Send `head` and then `chunks` until the server answers; (status, answer, body bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.05)
        answer = b""
        for chunk in chunks:
            with contextlib.suppress(TimeoutError):
                answer += sock.recv(65536)
            if answer:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, answer, sent


def test_oversized_bodies_are_refused_before_they_are_read(
    settings: ApiSettings, keys: Callable[..., str], tmp_path: Path
) -> None:
    token = keys("ops")
    limit = 64 * 1024
    env = api_env(settings, free_port(), ITS_API_MAX_BODY_BYTES=str(limit))
    with running_api(env, tmp_path / "api.log") as url:
        # Content-Length over the limit: 413 at once, with no byte of the (10 MB) body sent
        head = (
            "POST /v1/cameras HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 10000000\r\n\r\n"
        )
        status, answer, _ = _raw(url, head)
        assert status == 413 and b"application/problem+json" in answer
        # chunked: cut off once the limit is crossed, long before the 10 MB the client would send
        chunk = 16 * 1024
        chunks = (f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n" for _ in range(10_000_000 // chunk))
        head = head.replace("Content-Length: 10000000", "Transfer-Encoding: chunked")
        status, answer, sent = _raw(url, head, chunks)
        assert status == 413 and b"application/problem+json" in answer
        assert sent < limit + 16 * (chunk + 16), f"{sent} bytes were taken before the refusal"
        # a body under the limit is still read (and judged on its merits)
        r = httpx.post(f"{url}/v1/cameras", content=b"[" * 100, headers=_bearer(token), timeout=10)
        assert is_problem(r, 400)


# -- If-Match / ETag ------------------------------------------------------------------------------------------------
def test_a_stale_if_match_is_412(settings: ApiSettings, keys: Callable[..., str], pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    ops = _bearer(keys("ops"))
    with TestClient(create_app(settings)) as c:
        got = c.get(f"/v1/cameras/{cam}", headers=ops)
        etag = got.headers["etag"]
        assert got.status_code == 200 and etag.startswith('"') and etag.endswith('"')
        assert c.get(f"/v1/cameras/{cam}", headers=ops).headers["etag"] == etag  # stable
        # another editor's change lands (as the projector would write it): the tag moves
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(
                "UPDATE cameras SET config_updated_at = config_updated_at + interval '1 second' WHERE camera_id = %s",
                (cam,),
            )
        fresh = c.get(f"/v1/cameras/{cam}", headers=ops).headers["etag"]
        assert fresh != etag
        for method, body in (("PATCH", {"enabled": False}), ("PUT", {"source_url": "rtsp://10.0.0.2/s"})):
            r = c.request(method, f"/v1/cameras/{cam}", json=body, headers={**ops, "If-Match": etag})
            assert is_problem(r, 412)["current_etag"] == fresh
        r = c.patch(f"/v1/cameras/{cam}", json={"enabled": False}, headers={**ops, "If-Match": fresh})
        assert r.status_code != 412, r.text
        r = c.patch(f"/v1/cameras/{cam}", json={"enabled": False}, headers={**ops, "If-Match": "*"})
        assert r.status_code != 412, r.text
        r = c.patch("/v1/cameras/no-such-cam", json={"enabled": False}, headers={**ops, "If-Match": fresh})
        assert r.status_code == 404
    strict = settings.model_copy(update={"require_if_match": True})
    with TestClient(create_app(strict)) as c:
        is_problem(c.patch(f"/v1/cameras/{cam}", json={"enabled": False}, headers=ops), 428)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM cameras WHERE camera_id = %s", (cam,))


def test_two_editors_with_the_same_etag_inside_the_projectors_lag_one_wins(
    settings: ApiSettings, keys: Callable[..., str], pg_dsn: str, unique: str
) -> None:
    """The read model shows a command only once the projector applied it: two editors holding the same ETag who
    both send within that window must not both pass. The first claims the new version (Redis, atomically), the
    second gets 412 with the first's tag; a command refused later (here by the source policy) gives its claim back."""
    from projections.api.routes_cameras import etag_of

    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    ops = _bearer(keys("ops"))
    try:
        with TestClient(create_app(settings)) as c:
            etag = c.get(f"/v1/cameras/{cam}", headers=ops).headers["etag"]
            # a refused command (a loopback source under a strict policy) releases what it claimed
            c.app.state.source_policy = SourcePolicy(allow_loopback=False)
            r = c.patch(
                f"/v1/cameras/{cam}", json={"source_url": "rtsp://127.0.0.1/x"}, headers={**ops, "If-Match": etag}
            )
            assert is_problem(r, 422)
            c.app.state.source_policy = None
            first = c.patch(f"/v1/cameras/{cam}", json={"name": "first"}, headers={**ops, "If-Match": etag})
            assert first.status_code == 202, first.text
            mine = etag_of(cam, first.json()["accepted"]["updated_at"])
            second = c.patch(f"/v1/cameras/{cam}", json={"name": "second"}, headers={**ops, "If-Match": etag})
            assert is_problem(second, 412)["current_etag"] == mine
            # the first editor's tag holds for its next edit, before the projector applied anything
            again = c.patch(f"/v1/cameras/{cam}", json={"name": "first again"}, headers={**ops, "If-Match": mine})
            assert again.status_code == 202, again.text
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM cameras WHERE camera_id = %s", (cam,))
        r = redis.Redis.from_url(str(settings.redis_url.get_secret_value()))
        r.delete(f"its:cfgtag:{cam}")
        r.close()


# -- keys that expire, a bounded key cache ----------------------------------------------------------------------
def test_an_expired_key_is_401_even_from_the_cache(settings: ApiSettings, keys: Callable[..., str]) -> None:
    past = keys("read", datetime.now(UTC) - timedelta(seconds=1))
    soon = keys("read", datetime.now(UTC) + timedelta(seconds=1.5))
    s = settings.model_copy(update={"key_cache_s": 600.0})
    with TestClient(create_app(s)) as c:
        r = c.get("/v1/fleet", headers=_bearer(past))
        assert "expired" in is_problem(r, 401)["detail"] and r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/v1/fleet", headers=_bearer(soon)).status_code == 200  # cached for 600 s from here
        time.sleep(1.6)
        is_problem(c.get("/v1/fleet", headers=_bearer(soon)), 401)


def test_keys_cli_sets_an_expiry_and_still_prints_the_token(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], unique: str
) -> None:
    args = ["keys", "create", "--name", f"exp-{unique}", "--scopes", "ops", "--expires-in", "30d", "--dsn", pg_dsn]
    assert main(args) == 0
    out = capsys.readouterr().out
    token = next(line.split()[1] for line in out.splitlines() if line.startswith("token:"))
    key_id = token.split("_")[1]
    try:
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute("SELECT expires_at - now() FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()
        assert row is not None and timedelta(days=29, hours=23) < row[0] <= timedelta(days=30)
        main(["keys", "list", "--dsn", pg_dsn])
        assert "expires" in next(line for line in capsys.readouterr().out.splitlines() if key_id in line)
        assert main(["keys", "create", "--name", "x", "--expires-in", "soon", "--dsn", pg_dsn]) == 2
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


def test_the_key_cache_is_bounded(settings: ApiSettings, keys: Callable[..., str]) -> None:
    token = keys("read")
    app = create_app(settings.model_copy(update={"key_cache_max": 5, "key_cache_s": 600.0}))
    with TestClient(app) as c:
        for _ in range(40):  # a flood of made-up key ids
            made_up = f"its_{uuid.uuid4().hex[:12]}_{'a' * 43}"
            is_problem(c.get("/v1/fleet", headers=_bearer(made_up)), 401)
            assert len(app.state.deps.keys) <= 5
        assert c.get("/v1/fleet", headers=_bearer(token)).status_code == 200


# -- /ready and Kafka ------------------------------------------------------------------------------------------------
def test_kafka_down_fails_only_the_commands(settings: ApiSettings, keys: Callable[..., str]) -> None:
    s = settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{_closed_port()}", "ready_timeout_s": 1.0, "command_timeout_s": 1.0}
    )
    ops = _bearer(keys("ops"))
    with TestClient(create_app(s)) as c:
        r = c.get("/ready")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["status"] == "ready" and doc["commands"] == "unavailable"
        assert doc["checks"] == {"postgresql": "ok", "redis": "ok", "kafka": "down"}
        _no_leak(r.text)
        assert c.get("/v1/cameras", headers=ops).status_code == 200  # the read path serves
        assert c.get("/v1/fleet", headers=ops).status_code == 200
        cam = {"camera_id": f"cam-{uuid.uuid4().hex[:8]}", "name": "x", "source_url": "rtsp://10.0.0.3/s"}
        r = c.post("/v1/cameras", json=cam, headers=ops)
        assert "Kafka" in is_problem(r, 503)["detail"] and r.headers["retry-after"]
        _no_leak(r.text)


def test_ready_shows_no_exception_text(settings: ApiSettings) -> None:
    from pydantic import SecretStr

    s = settings.model_copy(
        update={
            "pg_dsn": SecretStr(f"postgresql://postgres:hunter2@127.0.0.1:{_closed_port()}/its"),
            "ready_timeout_s": 1.0,
            "pool_timeout_s": 1.0,
        }
    )
    with TestClient(create_app(s)) as c:
        r = c.get("/ready")
    body = is_problem(r, 503)
    assert body["checks"]["postgresql"] == "down" and "postgresql" in body["detail"]
    assert set(body["checks"].values()) <= {"ok", "down"}
    _no_leak(r.text)
    assert "hunter2" not in r.text and json.dumps(body).count("127.0.0.1") == 0
