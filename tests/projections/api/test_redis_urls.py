"""The API on each form of ITS_REDIS_URL that redis-py takes: a unix socket (with and without a db number), TCP with
a username, password and db number, and TLS (rediss://, a self-signed certificate). Each test starts its own
redis-server (Debian's binary) in a temporary directory; PostgreSQL and Kafka are the local stack's."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from pydantic import SecretStr
from starlette.testclient import TestClient

from projections.api import ApiSettings, create_app
from projections.api.ratelimit import rate_key
from tests.projections.api.conftest import DAY, api_env, free_port, is_problem, running_api, set_live

pytestmark = pytest.mark.integration

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
PASSWORD = "s3cret-its"


@dataclass(frozen=True)
class PrivateRedis:
    dir: Path
    socket: Path
    port: int
    tls_port: int
    ca: Path

    def url(self, form: str) -> str:
        return {
            "unix": f"unix://{self.socket}?password={PASSWORD}",
            "unix_db": f"unix://{self.socket}?db=3&password={PASSWORD}",
            "tcp_user_db": f"redis://default:{PASSWORD}@127.0.0.1:{self.port}/5",
            "tls_db": f"rediss://:{PASSWORD}@127.0.0.1:{self.tls_port}/2?ssl_ca_certs={self.ca}",
        }[form]


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server with a password on a unix socket, a TCP port and a TLS port (self-signed certificate)."""
    # a short directory: a unix socket's path is limited to about 100 bytes
    d = Path(tempfile.mkdtemp(prefix="its-redis-"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port, tls_port = free_port(), free_port()
    proc = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--unixsocket", str(d / "redis.sock"),
         "--unixsocketperm", "700", "--requirepass", PASSWORD, "--tls-port", str(tls_port),
         "--tls-cert-file", str(d / "cert.pem"), "--tls-key-file", str(d / "key.pem"),
         "--tls-ca-cert-file", str(d / "cert.pem"), "--tls-auth-clients", "no",
         "--dir", str(d), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not (d / "redis.sock").exists() or not _listens(tls_port):
            assert proc.poll() is None, f"{REDIS} exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"{REDIS} did not open its socket and TLS port within 15 s"
            time.sleep(0.05)
        yield PrivateRedis(d, d / "redis.sock", port, tls_port, d / "cert.pem")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(d, ignore_errors=True)


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _key_id(token: str) -> str:
    return token.split("_")[1]


@pytest.mark.parametrize("form", ["unix", "unix_db", "tcp_user_db", "tls_db"])
def test_rate_limits_and_live_reads_go_to_the_redis_the_url_names(
    form: str,
    private_redis: PrivateRedis,
    api_settings: ApiSettings,
    make_key: Callable[..., str],
    unique: str,
) -> None:
    url = private_redis.url(form)
    r = redis.Redis.from_url(url)
    db0 = redis.Redis.from_url(private_redis.url("unix"))
    cam = f"cam-{unique}"
    today = datetime.now(UTC).date().isoformat()
    frame = set_live(r, cam, DAY, today)
    token = make_key("read", rate=4)
    headers = {"Authorization": f"Bearer {token}"}
    s = api_settings.model_copy(update={"redis_url": SecretStr(url)})
    with TestClient(create_app(s)) as c:
        assert c.get("/ready").json()["checks"]["redis"] == "ok"
        # the fused route: the rate-limit token and the three hashes in one script call
        doc = c.get(f"/v1/cameras/{cam}/live", headers=headers).json()
        assert doc["frame"] == frame and doc["status"]["status"] == "ONLINE" and doc["counts_today"]["vehicles"] == 5
        # a restarted or flushed Redis has lost the scripts: NOSCRIPT is answered by loading them again
        r.script_flush()
        assert c.get(f"/v1/cameras/{cam}/live", headers=headers).json()["frame"] == frame
        # a route whose token the gate takes (the plain rate-limit script)
        assert c.get(f"/v1/cameras/{cam}-unknown", headers=headers).status_code == 404
        assert c.get(f"/v1/cameras/{cam}/live", headers=headers).status_code == 200
        over = c.get(f"/v1/cameras/{cam}/live", headers=headers)
        is_problem(over, 429)
        assert int(over.headers["retry-after"]) >= 1
    # the bucket lives in the URL's database, not in db 0 (unless that is the URL's)
    assert r.exists(rate_key(_key_id(token)))
    if form != "unix":
        assert not db0.exists(rate_key(_key_id(token)))


def test_itscam_api_serves_live_reads_and_the_stream_over_a_unix_socket(
    private_redis: PrivateRedis,
    api_settings: ApiSettings,
    make_key: Callable[..., str],
    unique: str,
    tmp_path: Path,
) -> None:
    url = private_redis.url("unix_db")
    r = redis.Redis.from_url(url)
    cam = f"cam-{unique}"
    frame = set_live(r, cam, DAY, datetime.now(UTC).date().isoformat())
    headers = {"Authorization": f"Bearer {make_key('read')}"}
    env = api_env(api_settings, free_port(), ITS_REDIS_URL=url, ITS_API_SSE_HEARTBEAT_S="1")
    with running_api(env, tmp_path / "api.log") as base, httpx.Client(base_url=base, timeout=10) as c:
        assert c.get(f"/v1/cameras/{cam}/live", headers=headers).json()["frame"] == frame
        with c.stream("GET", "/v1/stream", params={"camera_id": cam}, headers=headers) as resp:
            lines = resp.iter_lines()
            assert next(lines) == "retry: 3000" and next(lines) == ": connected"
            r.publish(api_settings.events_channel, json.dumps({"type": "count", "camera_id": cam, "data": {"n": 1}}))
            event = next(line for line in lines if line.startswith("event:"))  # heartbeats may come first
            assert event == "event: count" and json.loads(next(lines).removeprefix("data:"))["data"] == {"n": 1}
