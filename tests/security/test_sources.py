"""Camera sources cannot be turned against the system: every attack tried for real, against the running stack.

The API (a real app on the real PostgreSQL/Kafka, a STRICT policy set on it explicitly — the test environment allows
loopback and files), the CLI, and an ingest worker process given a refused record straight on its cameras topic all
refuse; FFmpeg's HLS reader and the WHEP client never reach a denied address, whatever a playlist or a redirect names;
WHEP's Authorization goes only to its own origin. A canary (tests/security/canary.py) counts what must never happen.

Two loopback addresses stand for "allowed origin" and "denied address": 127.0.0.1 and 127.0.0.2 (ITS_SOURCE_DENY_CIDRS).
DNS rebinding is played by a name (camera.test) the policy's resolver sees at 127.0.0.1 and every other resolver at
127.0.0.2, with canaries on the same port at both: only a connection to the checked address reaches the first.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from schemas import codec
from schemas.cameras import camera_config
from schemas.source_policy import SourcePolicy, SourceRefused, check_source
from streams.ingest.errors import SourceError
from streams.ingest.source import SourceSpec, open_source
from streams.ingest.whep import open_whep
from tests.conftest import CLIP
from tests.kafka_helpers import TopicTail
from tests.security.canary import Canary
from tests.servers.whep import WhepServer

STRICT = SourcePolicy(allow_files=False, allow_loopback=False, cluster_cidrs=["10.96.0.0/12"])
STRICT_ENV = {
    "ITS_SOURCE_ALLOW_FILES": "false",
    "ITS_SOURCE_ALLOW_LOOPBACK": "false",
    "ITS_SOURCE_FILE_DIRS": "",
    "ITS_SOURCE_CLUSTER_CIDRS": "10.96.0.0/12",
}
DENY_2 = SourcePolicy(allow_loopback=True, deny_cidrs=["127.0.0.2/32"])


def _attacks(port: int) -> list[tuple[dict[str, str], str]]:
    """(source_url and protocol of a camera, the rule that refuses it under STRICT)."""
    return [
        ({"source_url": "file:///etc/passwd"}, "files_disabled"),
        ({"source_url": "/etc/passwd"}, "files_disabled"),
        ({"source_url": "http://169.254.169.254/latest/meta-data"}, "metadata"),
        ({"source_url": "http://[fd00:ec2::254]/latest/meta-data"}, "metadata"),
        ({"source_url": f"http://[::ffff:127.0.0.1]:{port}/"}, "loopback"),
        ({"source_url": f"http://2130706433:{port}/"}, "loopback"),
        ({"source_url": f"http://0x7f.0.0.1:{port}/"}, "loopback"),
        ({"source_url": f"http://localhost:{port}/"}, "loopback"),
        ({"source_url": f"rtsp://127.0.0.1:{port}/cam", "protocol": "RTSP_TCP"}, "loopback"),
        ({"source_url": "rtsp://10.96.0.10/stream"}, "cluster_cidr"),
        ({"source_url": "gopher://cameras.example/1"}, "scheme"),
        ({"source_url": "concat:/etc/passwd|/etc/hosts"}, "scheme"),
        ({"source_url": "file:///tmp/live.m3u8", "protocol": "HLS"}, "scheme"),
        ({"source_url": "http://0.0.0.0/", "protocol": "HTTP_MJPEG"}, "unspecified"),
    ]


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-watermark"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    with Canary() as c:
        yield c


# -- the policy itself ----------------------------------------------------------------------------------------------
def test_every_attack_is_refused_by_the_policy_naming_its_rule(canary: Canary) -> None:
    for cfg, rule in _attacks(canary.port):
        with pytest.raises(SourceRefused) as e:
            check_source(cfg["source_url"], cfg.get("protocol", "AUTO"), STRICT)
        assert e.value.rule == rule, (cfg, e.value)
        assert f"rule {rule}" in str(e.value) and e.value.field == "source_url"
    assert canary.count == 0


def test_files_only_under_the_configured_directories_symlinks_resolved(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "clips", tmp_path / "other"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (allowed / "link.mp4").symlink_to(outside / "secret.mp4")
    policy = SourcePolicy(allow_files=True, file_dirs=[str(allowed)])
    check_source(str(allowed / "clip.mp4"), "AUTO", policy)
    for bad in (allowed / "link.mp4", allowed / ".." / "other" / "secret.mp4", Path("/etc/passwd")):
        with pytest.raises(SourceRefused, match="rule file_dir"):
            check_source(str(bad), "AUTO", policy)
    with pytest.raises(SourceRefused, match="rule allow_cidrs"):
        check_source("rtsp://192.0.2.7/cam", "AUTO", SourcePolicy(allow_cidrs=["10.20.0.0/16"]))
    check_source("rtsp://10.20.3.4/cam", "AUTO", SourcePolicy(allow_cidrs=["10.20.0.0/16"]))
    check_source("rtsp://camera-not-yet-in-dns.invalid/cam", "AUTO", STRICT)  # checked again at connect


# -- the API --------------------------------------------------------------------------------------------------------
@pytest.fixture
def strict_api(
    stack: StackSettings, pg_dsn: str, bootstrap: str, make_topic: Callable[..., str]
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    from projections.api import ApiSettings, create_app
    from projections.api.keys import create_key

    topic = make_topic("cameras")
    settings = ApiSettings(
        pg_dsn=pg_dsn,
        redis_url=stack.redis_url,
        kafka_bootstrap=bootstrap,
        metrics_port=0,
        cameras_topic=topic,
        events_channel=f"its:events:test:{os.urandom(4).hex()}",
        command_timeout_s=5.0,
    )
    key_id, token = create_key(pg_dsn, "test-sources", ["ops"], 1_000_000)
    app = create_app(settings)
    app.state.source_policy = STRICT
    try:
        with TestClient(app) as client:
            yield client, {"Authorization": f"Bearer {token}"}, topic
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


@pytest.mark.integration
def test_the_api_answers_422_naming_the_rule_and_writes_nothing(
    strict_api: tuple[TestClient, dict[str, str], str], canary: Canary, bootstrap: str, unique: str
) -> None:
    client, auth, topic = strict_api
    for i, (cfg, rule) in enumerate(_attacks(canary.port)):
        cam = f"attack-{unique}-{i}"
        for r in (
            client.post("/v1/cameras", json={"camera_id": cam, **cfg}, headers=auth),
            client.put(f"/v1/cameras/{cam}", json=cfg, headers=auth),
        ):
            assert r.status_code == 422, (cfg, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["invalid_params"][0]["name"] == "source_url"
            assert f"rule {rule}" in body["invalid_params"][0]["reason"] and f"rule {rule}" in body["detail"]
            assert "ITS_SOURCE_" in body["detail"] or rule in ("metadata", "scheme", "unspecified")
    ok = client.post(
        "/v1/cameras", json={"camera_id": f"ok-{unique}", "source_url": "rtsp://10.20.0.5/s"}, headers=auth
    )
    assert ok.status_code == 202, ok.text
    assert _high_watermark(bootstrap, topic) == 1  # only the allowed camera was written
    assert canary.count == 0


# -- the CLI --------------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_the_cli_refuses_the_same_and_exits_non_zero(
    bootstrap: str, make_topic: Callable[..., str], canary: Canary, unique: str
) -> None:
    topic = make_topic("cameras")
    env = {**os.environ, **STRICT_ENV, "ITS_KAFKA_BOOTSTRAP": bootstrap}
    script = (
        "import sys\nfrom itscam.main import main\n"
        "codes = [main(['cameras', 'add', f'c{i}', url, '--topic', sys.argv[1]] + (['--protocol', p] if p else []))"
        " for i, (url, p) in enumerate(zip(sys.argv[2::2], sys.argv[3::2]))]\n"
        "print('CODES', codes)\n"
    )
    args = [a for cfg, _ in _attacks(canary.port) for a in (cfg["source_url"], cfg.get("protocol", ""))]
    res = subprocess.run(
        [sys.executable, "-c", script, topic, *args], env=env, capture_output=True, text=True, timeout=120
    )
    out = res.stdout + res.stderr
    codes = ast.literal_eval(next(line for line in res.stdout.splitlines() if line.startswith("CODES"))[6:])
    assert codes and all(c != 0 for c in codes), out
    for _, rule in _attacks(canary.port):
        assert f"rule {rule}" in out
    assert _high_watermark(bootstrap, topic) == 0
    assert canary.count == 0
    cli = subprocess.run(
        [sys.executable, "-m", "itscam", "cameras", "add", f"cam-{unique}", "file:///etc/passwd", "--topic", topic],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode != 0 and "rule files_disabled" in cli.stdout + cli.stderr


# -- the ingest worker, given refused records straight on its topic ---------------------------------------------------
@pytest.mark.integration
def test_the_ingest_worker_reports_refused_by_policy_and_opens_nothing(
    bootstrap: str, make_topic: Callable[..., str], canary: Canary, unique: str, tmp_path: Path
) -> None:
    from eventbus.registry import put_camera

    cameras, frames, status = make_topic("cameras"), make_topic("frames"), make_topic("status")
    env = {
        **os.environ,
        **STRICT_ENV,
        "ITS_KAFKA_BOOTSTRAP": bootstrap,
        "ITS_INGEST_CAMERAS_TOPIC": cameras,
        "ITS_INGEST_FRAMES_TOPIC": frames,
        "ITS_INGEST_CAMERA_STATUS_TOPIC": status,
        "ITS_INGEST_SNAPSHOTS_TOPIC": "",
        "ITS_INGEST_GROUP_ID": f"test-ingest-{unique}",
        "ITS_INGEST_ENCODER_THREADS": "1",
    }
    sources = {
        f"mjpeg-{unique}": (f"http://127.0.0.1:{canary.port}/video.mjpg", "HTTP_MJPEG"),
        f"rtsp-{unique}": (f"rtsp://127.0.0.1:{canary.port}/cam", "RTSP_TCP"),
        f"hls-{unique}": (f"http://2130706433:{canary.port}/index.m3u8", "HLS"),
        f"file-{unique}": (str(CLIP), "AUTO"),  # files are off in STRICT
    }
    for cam, (url, protocol) in sources.items():
        put_camera(bootstrap, camera_config(cam, url, protocol=protocol), cameras)  # bypassing the API
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "itscam", "ingest", "--metrics-port", "0"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        with TopicTail(bootstrap, status, codec("CameraStatusChanged").decode) as tail:

            def refused() -> set[str]:
                return {v["camera_id"] for v in tail.values() if v["reason"] == "refused_by_policy"}

            tail.wait_for(lambda: refused() == set(sources), 90, "refused_by_policy for every camera")
            events = tail.values()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
    for e in events:
        assert e["status"] == "OFFLINE" and "rule " in (e["error"] or ""), e
    assert canary.count == 0
    assert _high_watermark(bootstrap, frames) == 0


# -- FFmpeg's HLS reader: what a playlist names is checked too ------------------------------------------------------
def _playlist(*segments: str) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
    for seg in segments:
        lines += ["#EXTINF:2.0,", seg]
    return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()


def _read(spec: SourceSpec) -> SourceError:
    with pytest.raises(SourceError) as e:
        for _ in open_source(spec):
            pass
    return e.value


def test_an_hls_playlist_cannot_send_ffmpeg_to_a_denied_address() -> None:
    with Canary("127.0.0.2") as denied:
        playlist = _playlist(f"http://127.0.0.2:{denied.port}/seg0.ts", f"http://127.0.0.2:{denied.port}/seg1.ts")
        with Canary(status=200, body=playlist, headers={"Content-Type": "application/vnd.apple.mpegurl"}) as origin:
            err = _read(SourceSpec(f"{origin.url}index.m3u8", protocol="HLS", policy=DENY_2, open_timeout_s=3))
            assert origin.requests, "the allowed origin was asked for the playlist"
        assert err.reason == "refused_by_policy" and "rule deny_cidr" in str(err)
        assert denied.count == 0


def test_an_hls_playlist_cannot_read_local_files(tmp_path: Path) -> None:
    fifo = tmp_path / "segment.ts"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer() -> None:  # blocks until someone opens the FIFO for reading
        with open(fifo, "wb"):
            opened.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    playlist = _playlist(f"file://{fifo}", str(fifo))
    policy = SourcePolicy(allow_loopback=True, allow_files=True, file_dirs=[str(tmp_path)])
    try:
        with Canary(status=200, body=playlist, headers={"Content-Type": "application/vnd.apple.mpegurl"}) as origin:
            err = _read(SourceSpec(f"{origin.url}index.m3u8", protocol="HLS", policy=policy, open_timeout_s=3))
        assert not opened.wait(0.5), "FFmpeg opened the local file the playlist named"
        assert err.reason == "refused_by_policy" and "rule scheme" in str(err)
    finally:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
        t.join(5)
        os.close(fd)


def test_an_mjpeg_redirect_to_a_denied_address_is_not_followed() -> None:
    with Canary("127.0.0.2") as denied:
        target = f"http://127.0.0.2:{denied.port}/video.mjpg"
        with Canary(status=302, headers={"Location": target}) as origin:
            err = _read(SourceSpec(f"{origin.url}video.mjpg", protocol="HTTP_MJPEG", policy=DENY_2, open_timeout_s=3))
        assert err.reason == "refused_by_policy" and denied.count == 0


# -- WHEP ------------------------------------------------------------------------------------------------------------
def test_a_whep_redirect_to_a_denied_address_is_not_followed() -> None:
    with Canary("127.0.0.2") as denied:
        redirect = {"Location": f"http://127.0.0.2:{denied.port}/whep"}
        with Canary(status=307, headers=redirect) as origin, pytest.raises(SourceError) as e:
            for _ in open_whep(f"{origin.url}whep", connect_timeout=3, policy=DENY_2):
                break
        assert origin.requests and origin.requests[0].method == "POST"
        assert e.value.reason == "refused_by_policy" and "rule deny_cidr" in str(e.value)
        assert denied.count == 0


def test_whep_errors_never_echo_the_servers_words() -> None:
    secret = b"<html>internal admin console: password=hunter2</html>"
    policy = SourcePolicy(allow_loopback=True)
    page = {"Content-Type": "text/html"}
    with Canary(status=500, body=secret, headers=page) as origin, pytest.raises(SourceError) as e:
        for _ in open_whep(f"{origin.url}whep", connect_timeout=3, policy=policy):
            break
    assert "hunter2" not in str(e.value) and "admin console" not in str(e.value) and "HTTP 500" in str(e.value)


class _Front(BaseHTTPRequestHandler):
    """A WHEP front that relays the offer to the real WHEP server and names a session on ANOTHER origin."""

    whep: WhepServer
    delete_to: str

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        r = httpx.post(self.whep.url, content=body, headers=headers, timeout=10)
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(r.content)))
        self.send_header("Location", self.delete_to)
        self.end_headers()
        self.wfile.write(r.content)


def test_whep_delete_on_another_origin_carries_no_authorization() -> None:
    with WhepServer(CLIP, token="s3cret-token") as whep, Canary() as other:
        handler = type("Front", (_Front,), {"whep": whep, "delete_to": f"{other.url}whep/session/1"})
        front = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=front.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{front.server_address[1]}/whep?token=s3cret-token"
            policy = SourcePolicy(allow_loopback=True)
            for _ in open_whep(url, connect_timeout=10, policy=policy):
                break  # one frame: the session is up (the front passed the Authorization to its own origin)
        finally:
            front.shutdown()
            front.server_close()
            thread.join(5)
        assert whep.posts == 1 and whep.offers
        deletes = [r for r in other.requests if r.method == "DELETE"]
        assert deletes, "the session on the other origin was DELETEd"
        assert all("authorization" not in {k.lower() for k in r.headers} for r in other.requests)


def test_whep_ice_candidates_at_refused_addresses_are_not_used() -> None:
    answer = (
        b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
        b"a=rtpmap:96 VP8/90000\r\na=candidate:1 1 udp 2130706431 169.254.169.254 9999 typ host\r\n"
        b"a=candidate:2 1 udp 2130706431 127.0.0.2 9999 typ host\r\n"
    )
    sdp = {"Content-Type": "application/sdp", "Location": "/whep/session/1"}
    with Canary(status=201, body=answer, headers=sdp) as origin, pytest.raises(SourceError) as e:
        for _ in open_whep(f"{origin.url}whep", connect_timeout=3, policy=DENY_2):
            break
    assert e.value.reason == "refused_by_policy" and "ICE candidate" in str(e.value)


# -- one name, one answer: what is checked is what is connected to (DNS rebinding, spelling differentials) -----------
REBOUND = "camera.test"  # checked: 127.0.0.1 (allowed); any second lookup: 127.0.0.2 (denied), as a rebinding DNS


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy's resolver sees REBOUND at 127.0.0.1; every other resolver (httpx, FFmpeg via glibc is not reached:
    .test does not resolve there at all) gets 127.0.0.2, where a denied canary listens."""
    import socket

    from schemas import source_policy

    real_resolve, real_getaddrinfo = source_policy.resolve, socket.getaddrinfo

    def resolve(host: str, port: int | None) -> list[Any]:
        return [source_policy.host_address("127.0.0.1")] if host == REBOUND else real_resolve(host, port)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        rebound = host in (REBOUND, REBOUND.encode())  # anyio passes the IDNA-encoded bytes
        return real_getaddrinfo("127.0.0.2" if rebound else host, port, *args, **kwargs)

    monkeypatch.setattr(source_policy, "resolve", resolve)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("rebinding")
def test_http_connects_to_the_address_the_policy_checked_with_the_name_as_host() -> None:
    with Canary() as origin, Canary("127.0.0.2", port=origin.port) as denied:
        url = f"http://{REBOUND}:{origin.port}/video.mjpg"
        err = _read(SourceSpec(url, protocol="HTTP_MJPEG", policy=DENY_2, open_timeout_s=3))
        assert denied.count == 0, "the connection went where a second DNS answer said"
        assert [r.headers.get("Host") for r in origin.requests] == [f"{REBOUND}:{origin.port}"]
        assert err.reason == "not_found"  # the origin's 404: it was reached, at the checked address


@pytest.mark.usefixtures("rebinding")
def test_whep_connects_to_the_address_the_policy_checked_with_the_name_as_host() -> None:
    with Canary(status=500) as origin, Canary("127.0.0.2", port=origin.port) as denied:
        with pytest.raises(SourceError) as e:
            for _ in open_whep(f"whep://{REBOUND}:{origin.port}/whep", connect_timeout=3, policy=DENY_2):
                break
        assert denied.count == 0, "the WHEP POST went where a second DNS answer said"
        assert [(r.method, r.headers.get("Host")) for r in origin.requests] == [("POST", f"{REBOUND}:{origin.port}")]
        assert "HTTP 500" in str(e.value)


@pytest.mark.usefixtures("rebinding")
def test_ffmpeg_rtsp_connects_to_the_address_the_policy_checked() -> None:
    # FFmpeg resolves with glibc, where camera.test does not exist: only a connect to the checked address reaches it.
    with Canary() as camera:
        url = f"rtsp://admin:pw@{REBOUND}:{camera.port}/cam"
        _read(SourceSpec(url, protocol="RTSP_TCP", policy=SourcePolicy(allow_loopback=True), open_timeout_s=3))
        assert camera.count >= 1, "FFmpeg did not connect to the checked address"


def test_a_name_that_does_not_resolve_is_refused_at_connect() -> None:
    name = "camera-not-yet-in-dns.invalid"
    check_source(f"rtsp://{name}/cam", "AUTO", STRICT)  # the write path accepts it
    with pytest.raises(SourceRefused) as e:
        check_source(f"rtsp://{name}/cam", "AUTO", STRICT, connect=True)
    assert e.value.rule == "unresolved"
    for url, protocol in (
        (f"rtsp://{name}:554/cam", "RTSP_TCP"),
        (f"http://{name}/video.mjpg", "HTTP_MJPEG"),
        (f"srt://{name}:9000", "FFMPEG"),
    ):
        err = _read(SourceSpec(url, protocol=protocol, policy=STRICT, open_timeout_s=3))
        assert err.reason == "refused_by_policy" and "rule unresolved" in str(err), (url, err)
    with pytest.raises(SourceError) as w:
        for _ in open_whep(f"whep://{name}/whep", connect_timeout=3, policy=STRICT):
            break
    assert w.value.reason == "refused_by_policy" and "rule unresolved" in str(w.value)


def test_a_redirect_to_a_name_that_does_not_resolve_is_refused() -> None:
    with Canary(status=302, headers={"Location": "http://camera-not-yet-in-dns.invalid/x.mjpg"}) as origin:
        err = _read(SourceSpec(f"{origin.url}video.mjpg", protocol="HTTP_MJPEG", policy=DENY_2, open_timeout_s=3))
    assert err.reason == "refused_by_policy" and "rule unresolved" in str(err)


def test_host_names_must_be_ascii_punycode_is_accepted() -> None:
    fullwidth_localhost = "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54"
    ideographic_dots = "127\u30020\u30020\u30021"  # IDNA maps these to 127.0.0.1
    for url in (
        "rtsp://kämera.example/cam",
        f"http://{fullwidth_localhost}/",
        f"http://{ideographic_dots}/",
        "whep://cämera.test/whep",
    ):
        with pytest.raises(SourceRefused) as e:
            check_source(url, "AUTO", STRICT)
        assert e.value.rule == "host" and "xn--" in str(e.value), url
    check_source("rtsp://xn--kmera-gra.invalid/cam", "AUTO", STRICT)


def test_refusals_never_say_where_a_name_resolves(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from schemas import source_policy

    names = {"meta.test": "169.254.169.254", "svc.test": "10.100.3.4", "lo.test": "127.0.0.9"}
    monkeypatch.setattr(source_policy, "resolve", lambda host, port: [source_policy.host_address(names[host])])
    policy = SourcePolicy(allow_loopback=False, cluster_cidrs=["10.100.0.0/16"])
    caplog.set_level("INFO", logger="schemas.source_policy")
    for (name, ip), rule in zip(names.items(), ("metadata", "cluster_cidr", "loopback"), strict=True):
        with pytest.raises(SourceRefused) as e:
            check_source(f"rtsp://{name}/cam", "AUTO", policy)
        assert e.value.rule == rule and ip not in str(e.value) and ip not in e.value.reason, e.value
        assert ip in caplog.text  # the operator still sees it, in the server's log
    err = _read(SourceSpec("rtsp://svc.test/cam", protocol="RTSP_TCP", policy=policy, open_timeout_s=3))
    assert err.reason == "refused_by_policy" and "10.100.3.4" not in str(err)


def test_ffmpeg_gets_rtp_and_udp_only_for_rtsp_over_udp() -> None:
    from streams.ingest.source import _ffmpeg_options

    def options(url: str, protocol: str) -> dict[str, str]:
        return _ffmpeg_options(protocol, SourceSpec(url, protocol=protocol))[1]

    for url, protocol in (
        ("rtsp://cam/s", "FFMPEG"),
        ("rtmp://cam/app/s", "FFMPEG"),
        ("srt://cam:9000", "FFMPEG"),
        ("rtsp://cam/s", "RTSP_TCP"),
        ("http://cam/s.mjpg", "HTTP_MJPEG"),
        ("http://cam/s.m3u8", "HLS"),
    ):
        allowed = set(options(url, protocol)["protocol_whitelist"].split(","))
        assert not allowed & {"rtp", "udp", "file", "concat", "subfile", "data", "pipe"}, (url, protocol, allowed)
    assert options("rtsp://cam/s", "FFMPEG")["rtsp_transport"] == "tcp"
    assert options("rtsp://cam/s", "RTSP_TCP")["rtsp_transport"] == "tcp"
    assert {"rtp", "udp"} <= set(options("rtsp://cam/s", "RTSP_UDP")["protocol_whitelist"].split(","))


# -- FILE sources: what a file names is checked like the file ---------------------------------------------------------
def test_a_playlist_under_an_allowed_directory_cannot_read_other_local_files(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "clips", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    fifo = outside / "segment.ts"
    os.mkfifo(fifo)
    opened = threading.Event()

    def writer() -> None:  # blocks until someone opens the FIFO for reading
        with open(fifo, "wb"):
            opened.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    playlist = allowed / "index.m3u8"
    # (FFmpeg itself refuses segments such as /etc/hostname by extension; a .ts outside the directory it would open.)
    playlist.write_bytes(_playlist(str(fifo)))
    policy = SourcePolicy(allow_files=True, file_dirs=[str(allowed)])
    try:
        err = _read(SourceSpec(str(playlist), policy=policy, open_timeout_s=3))
        assert not opened.wait(0.5), "FFmpeg opened the file outside the allowed directory that the playlist named"
        assert err.reason == "refused_by_policy" and "rule file_dir" in str(err), err
    finally:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
        t.join(5)
        os.close(fd)


def test_a_playlist_under_an_allowed_directory_still_plays_its_own_segments(tmp_path: Path) -> None:
    import av

    with av.open(str(CLIP)) as inp, av.open(str(tmp_path / "seg0.ts"), "w") as out:
        stream = inp.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for n, packet in enumerate(inp.demux(stream)):
            if packet.dts is None or n > 60:
                continue
            packet.stream = copy
            out.mux(packet)
    (tmp_path / "index.m3u8").write_bytes(_playlist("seg0.ts"))
    policy = SourcePolicy(allow_files=True, file_dirs=[str(tmp_path)])
    spec = SourceSpec(str(tmp_path / "index.m3u8"), policy=policy, fps=0, decode="ALL")
    assert next(iter(open_source(spec)), None) is not None


@pytest.mark.usefixtures("rebinding")
def test_whep_ice_candidates_given_by_name_are_used_at_the_checked_address() -> None:
    from streams.ingest._whep_policy import checked_candidates

    answer = f"v=0\r\na=candidate:1 1 udp 2130706431 {REBOUND} 9999 typ host\r\n"
    kept = checked_candidates(answer, DENY_2, "whep://x")
    assert "127.0.0.1 9999 typ host" in kept and REBOUND not in kept  # aiortc never resolves the name again
