"""Camera credentials are never stored or published in plaintext, against the real stack: the API seals them for
ingest (schemas/credentials.py); the camera topic, the projector's read model, every answer of the API and
`itscam cameras list` hold the URL redacted; only the ingest private key opens it, and a damaged record fails
cleanly (a status naming the fix, never the secret)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from eventbus.config import consumer_config
from projections.api import ApiSettings, create_app
from projections.api.keys import create_key
from schemas import codec
from schemas.cameras import camera_config, decode_camera
from schemas.credentials import (
    PUBLIC_KEY_ENV,
    CredentialsError,
    UnsealError,
    display_url,
    generate_keypair,
    has_credentials,
    load_private_key,
    seal,
    seal_source,
    source_url_for,
    unseal,
)
from streams.ingest.camera import CameraRunner, RunnerContext
from streams.ingest.encoder import EncoderPool
from streams.ingest.producer import FrameProducer
from tests.kafka_helpers import read_all, wait_until
from tests.projections.api.conftest import project_cameras

pytestmark = pytest.mark.integration

PASSWORD, TOKEN = "p@ss", "abc"
URL = f"rtsp://user:{PASSWORD}@10.1.1.4/stream?token={TOKEN}"


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 320x180 camera clip (cheap to read)."""
    from bench.clips import make_clip
    from tests.conftest import CLIP

    out = tmp_path_factory.mktemp("clips") / "small.mp4"
    return make_clip(CLIP, out, width=320, height=180, fps=10, gop=10, seconds=3)


@pytest.fixture
def admin(pg_dsn: str) -> Iterator[dict[str, str]]:
    key_id, token = create_key(pg_dsn, "test-credentials", ["admin"], 1_000_000)
    yield {"Authorization": f"Bearer {token}"}
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


@pytest.fixture
def client(api_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as c:
        yield c


def _raw_records(bootstrap: str, topic: str, n: int) -> list[tuple[str, bytes | None]]:
    c = Consumer(consumer_config(bootstrap, f"g-{uuid.uuid4().hex[:8]}"))
    c.subscribe([topic])
    out: list[tuple[str, bytes | None]] = []
    try:
        for _ in range(60):
            for m in c.consume(10, 0.5):
                if m.error() is None:
                    out.append(((m.key() or b"").decode(), m.value()))
            if len(out) >= n:
                break
    finally:
        c.close()
    return out


def _no_secret(text: str, *allowed: str) -> None:
    """Neither secret in `text` once the `allowed` values (the sealed ciphertext, random ids) are taken out."""
    for a in allowed:
        text = text.replace(a, "")
    assert PASSWORD not in text and TOKEN not in text, text[:2000]


def test_posted_credentials_are_sealed_on_the_topic_and_in_the_read_model_and_never_answered(
    client: TestClient,
    admin: dict[str, str],
    api_settings: ApiSettings,
    pg_dsn: str,
    bootstrap: str,
    make_topic: Callable[..., str],
    unique: str,
) -> None:
    cam = f"cred-{unique}"
    r = client.post("/v1/cameras", json={"camera_id": cam, "source_url": URL, "target_fps": 5}, headers=admin)
    assert r.status_code in (201, 202), r.text
    _no_secret(r.text, cam)
    assert r.json()["accepted"]["source_url"] == "rtsp://***@10.1.1.4/stream?token=***"
    assert "source_secret" not in r.json()["accepted"]

    # the raw record on the compacted camera topic
    [(key, raw)] = _raw_records(bootstrap, api_settings.cameras_topic, 1)
    assert key == cam and raw is not None
    record = decode_camera(raw)
    sealed = record["source_secret"]
    assert sealed and sealed.startswith("its-seal-v1.")
    _no_secret(raw.decode("latin-1"), sealed, cam)
    assert record["source_url"] == "rtsp://***@10.1.1.4/stream?token=***"
    # only the ingest private key opens it, giving back the URL as posted
    assert source_url_for(record) == URL

    # the projector's read model
    project_cameras(api_settings, pg_dsn, make_topic, unique)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT source_url, config::text FROM cameras WHERE camera_id = %s", (cam,)).fetchone()
    assert row is not None
    _no_secret(" ".join(row), sealed, cam)

    # every answer of the API
    one = client.get(f"/v1/cameras/{cam}", headers=admin)
    assert one.status_code == 200, one.text
    _no_secret(one.text, cam)
    assert "its-seal-v1" not in one.text and one.json()["source_url"] == "rtsp://***@10.1.1.4/stream?token=***"
    listing = client.get("/v1/cameras", params={"limit": 1000}, headers=admin)
    assert "its-seal-v1" not in listing.text  # other tests' cameras are listed too: look at ours
    [item] = [c for c in listing.json()["items"] if c["camera_id"] == cam]
    _no_secret(json.dumps(item), cam)

    # a PATCH that leaves the URL alone keeps the credentials (sealed again, never in plaintext)
    r = client.patch(f"/v1/cameras/{cam}", json={"name": "Gate"}, headers=admin)
    assert r.status_code == 202, r.text
    _no_secret(r.text, cam)
    patched = decode_camera(_raw_records(bootstrap, api_settings.cameras_topic, 2)[-1][1] or b"")
    assert patched["name"] == "Gate" and source_url_for(patched) == URL
    # so does a PUT that sends back the redacted URL a GET answered
    shown = one.json()["source_url"]
    r = client.put(f"/v1/cameras/{cam}", json={"source_url": shown, "name": "Gate 2"}, headers=admin)
    assert r.status_code == 202, r.text
    put = decode_camera(_raw_records(bootstrap, api_settings.cameras_topic, 3)[-1][1] or b"")
    assert put["name"] == "Gate 2" and source_url_for(put) == URL

    # `itscam cameras list` reads the topic and prints no credential (nor the sealed value)
    env = {**os.environ, "ITS_KAFKA_BOOTSTRAP": bootstrap}
    for extra in ([], ["--json"]):
        res = subprocess.run(
            [sys.executable, "-m", "itscam", "cameras", "list", "--topic", api_settings.cameras_topic, *extra],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert cam in res.stdout and "its-seal-v1" not in res.stdout
        _no_secret(res.stdout + res.stderr, cam)


def test_a_client_cannot_set_source_secret(client: TestClient, admin: dict[str, str], unique: str) -> None:
    body = {"camera_id": f"cred-{unique}", "source_url": "rtsp://10.1.1.4/s", "source_secret": "its-seal-v1.x.y"}
    r = client.post("/v1/cameras", json=body, headers=admin)
    assert r.status_code == 422 and "source_secret" in r.text


def test_credentials_without_a_sealing_key_are_refused_naming_the_setting(
    client: TestClient, admin: dict[str, str], unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PUBLIC_KEY_ENV)
    r = client.post("/v1/cameras", json={"camera_id": f"cred-{unique}", "source_url": URL}, headers=admin)
    assert r.status_code == 422, r.text
    assert PUBLIC_KEY_ENV in r.text and "itscam secrets keygen" in r.text
    _no_secret(r.text, unique)
    # a URL without credentials needs no key
    r = client.post(
        "/v1/cameras", json={"camera_id": f"plain-{unique}", "source_url": "rtsp://10.1.1.4/s"}, headers=admin
    )
    assert r.status_code == 202, r.text


def test_tampering_wrong_camera_and_wrong_key_fail_cleanly() -> None:
    cfg = seal_source({"camera_id": "c1", "source_url": URL})
    sealed = cfg["source_secret"]
    assert source_url_for(cfg) == URL
    head, blob = sealed.rsplit(".", 1)
    for i in (0, 40, len(blob) - 2):  # the ephemeral key, the ciphertext, the tag
        flipped = blob[:i] + ("A" if blob[i] != "A" else "B") + blob[i + 1 :]
        with pytest.raises(UnsealError) as e:
            source_url_for({**cfg, "source_secret": f"{head}.{flipped}"})
        _no_secret(str(e.value))
    for bad in (sealed[:-10], "its-seal-v9.x.y", "plaintext"):
        with pytest.raises(UnsealError):
            source_url_for({**cfg, "source_secret": bad})
    with pytest.raises(UnsealError, match="another camera"):
        source_url_for({**cfg, "camera_id": "c2"})  # moved onto another camera: bound to c1
    other_private, _ = generate_keypair()
    with pytest.raises(UnsealError, match="sealed for key") as e:
        unseal(sealed, load_private_key(other_private), "c1")
    _no_secret(str(e.value))


def test_ingest_opens_the_sealed_url_and_reports_one_that_does_not_open(
    bootstrap: str, make_topic: Callable[..., str], unique: str, small_clip: Path
) -> None:
    from schemas.credentials import load_public_key

    frames, status = make_topic("frames", 1), make_topic("status", 1)
    producer = FrameProducer(bootstrap, frames_topic=frames)
    pool = EncoderPool(1)
    ctx = RunnerContext(producer, pool, frames, make_topic("status", 1), "test-worker", once=True, block_when_busy=True)
    try:
        # a sealed source: ingest reads what the sealed URL names, not source_url
        good = f"sealed-{unique}"
        cfg = {**camera_config(good, "redacted.mp4"), "source_secret": seal(str(small_clip), load_public_key(), good)}
        runner = CameraRunner(cfg, ctx, max_frames=5)  # type: ignore[arg-type]
        runner.start()
        wait_until(lambda: runner.sent >= 5, 60, "frames from the sealed source")
        runner.stop()
        runner.join(10)
        # a damaged one: a status naming the fix, no secret, nothing opened
        bad = f"damaged-{unique}"
        sealed = seal_source({"camera_id": bad, "source_url": URL})["source_secret"]
        cfg = {**camera_config(bad, "rtsp://***@10.1.1.4/stream?token=***"), "source_secret": sealed[:-4] + "AAAA"}
        runner = CameraRunner(cfg, replace(ctx, status_topic=status))  # type: ignore[arg-type]
        runner.start()
        msgs = read_all(bootstrap, status, 1, timeout=30)
        runner.stop()
        runner.join(10)
        statuses = [codec("CameraStatusChanged").decode(m.value() or b"") for m in msgs]
        bad_status = next(s for s in statuses if s["camera_id"] == bad)
        assert bad_status["status"] == "OFFLINE" and bad_status["reason"] == "unseal_failed"
        assert "write the camera's URL again" in (bad_status["error"] or "")
        _no_secret(json.dumps(bad_status, default=str), bad)
        assert runner.sent == 0
    finally:
        pool.close()
        producer.close(10)


def test_a_legacy_plaintext_record_still_opens_and_is_never_shown() -> None:
    legacy: dict[str, Any] = {**camera_config("old", URL), "source_secret": None}
    assert source_url_for(legacy) == URL  # ingest still reads it
    from projections.writers.cameras import stored_config

    kept = stored_config(legacy)  # type: ignore[arg-type]
    assert kept["source_url"] == "rtsp://***@10.1.1.4/stream?token=***" and source_url_for(kept) == URL


def test_a_redacted_url_without_its_sealed_original_is_refused() -> None:
    from schemas.cameras import CameraConfigError

    with pytest.raises(CameraConfigError, match="redacted credentials") as e:
        seal_source({"camera_id": "c1", "source_url": "rtsp://***@10.1.1.4/stream"})
    assert e.value.field == "source_url"
    kept = seal_source({"camera_id": "c1", "source_url": URL})
    assert seal_source(kept) == kept  # the redacted URL with its sealed original: written as it is


# -- what is sealed is decided by the URL's structure, not by recognising secret names (security review) --

_SAFE = "abcdefghijklmnopqrstuvwxyz0123456789"
# unreserved and sub-delims, ':' and '@' (the last '@' ends userinfo), and percent-encoded bytes
_USERINFO = st.text(_SAFE + "ABCXY!$&'()*+,;=~-._:@", min_size=1, max_size=16) | st.just("%22%20%3C%3F%23%2F")
_VALUE = st.text(_SAFE + "ABCXY!$'()*+,;~-._:@/?", min_size=0, max_size=16)
_NAME = st.text(_SAFE + "_-.", min_size=1, max_size=8)


@st.composite
def _camera_urls(draw: st.DrawFn) -> tuple[str, str, str, list[str]]:
    """(url, host, path, its secrets): each secret starts with "Zq", which nothing else holds."""
    scheme = draw(st.sampled_from(["rtsp", "rtsps", "http", "https", "whep", "wheps", "srt"]))
    host = draw(st.sampled_from(["10.1.1.4", "cam.example", "[2001:db8::1]"]))
    port = draw(st.sampled_from(["", ":554", ":9000"]))
    path = draw(st.sampled_from(["/", "/stream", "/live/ch1/main", "/a/index.m3u8"]))  # no path and a later @: refused
    found: list[str] = []
    userinfo = ""
    if draw(st.booleans()):
        secret = "Zq" + draw(_USERINFO)
        found.append(secret)
        userinfo = draw(st.sampled_from(["", "admin:", "user.name:"])) + secret + "@"
    params = []
    for _ in range(draw(st.integers(0, 3))):
        secret = "Zq" + draw(_VALUE)
        found.append(secret)
        params.append(secret if draw(st.booleans()) else f"{draw(_NAME)}={secret}")
    query = "?" + "&".join(params) if params else ""
    fragment = ""
    if draw(st.booleans()):
        secret = "Zq" + draw(_VALUE).replace("?", "")
        found.append(secret)
        fragment = "#" + secret
    return f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}", host, path, found


@settings(max_examples=300, deadline=None)
@given(_camera_urls())
def test_any_userinfo_query_or_fragment_is_sealed_and_never_shown(u: tuple[str, str, str, list[str]]) -> None:
    url, host, path, found = u
    cfg = seal_source({"camera_id": "c1", **camera_config("c1", url)})  # validated as the writers do
    shown = cfg["source_url"]
    assert "Zq" not in shown, (url, shown)
    assert host in shown and path in shown
    if found:
        assert cfg["source_secret"] and source_url_for(cfg) == url
        assert not has_credentials(shown) and display_url(shown) == shown
        assert seal_source(cfg) == cfg  # the shown URL with its sealed original: written as it is
    else:
        assert shown == url and not cfg["source_secret"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # the review's leaks: names the redactor did not know
        ("srt://10.1.1.4:9000?passphrase=Zqs3cret", "srt://10.1.1.4:9000?passphrase=***"),
        ("rtsp://cam/s?pw=Zqs3cret", "rtsp://cam/s?pw=***"),
        ("rtsp://cam/s?loginpas=Zqs3cret", "rtsp://cam/s?loginpas=***"),
        ("rtsp://cam/s?channel=1&Zqs3cret", "rtsp://cam/s?channel=***&***"),
        ("rtsp://cam/s?a%20b=Zqs3cret", "rtsp://cam/s?***"),
        ("http://cam/snap.jpg#Zqs3cret", "http://cam/snap.jpg#***"),
        ("rtsp://cam/s;session=Zqs3cret", "rtsp://cam/s;session=***"),
        ("rtsp://admin:pa%22Zqs3cret@cam/s", "rtsp://***@cam/s"),
        ("rtsp://Zqtoken@cam/s", "rtsp://***@cam/s"),
        # RTMP: the stream key is the path
        ("rtmp://live.example/app/Zqs3cret", "rtmp://live.example/***"),
        ("rtmps://u:Zqs3cret@live.example:443/app/Zqkey?x=Zq1", "rtmps://***@live.example:443/***"),
    ],
)
def test_what_is_sealed_is_decided_by_structure(url: str, shown: str) -> None:
    cfg = seal_source({"camera_id": "c1", "source_url": url})
    assert cfg["source_url"] == shown and "Zq" not in shown
    assert source_url_for(cfg) == url
    assert seal_source(cfg) == cfg


@pytest.mark.parametrize("url", ["http://cam/mjpeg", "rtsp://10.1.1.4:554/stream", "/data/clip.mp4", "rtmp://h"])
def test_a_url_without_userinfo_query_or_fragment_is_not_sealed(url: str) -> None:
    assert not has_credentials(url) and seal_source({"camera_id": "c1", "source_url": url})["source_secret"] is None


def test_a_legacy_url_whose_parts_cannot_be_told_apart_is_shown_as_scheme_only() -> None:
    """A record written before validation refused it: sealed, and nothing of it shown."""
    for url in ('rtsp://admin:pa"ss@cam/s', "rtsp://u:p?ss@cam/s", "rtsp://admin:a/b:c@cam/s"):
        cfg = seal_source({"camera_id": "c1", "source_url": url})
        assert cfg["source_url"] == "rtsp://***" and source_url_for(cfg) == url


def test_any_query_without_a_sealing_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PUBLIC_KEY_ENV)
    with pytest.raises(CredentialsError, match=PUBLIC_KEY_ENV):
        seal_source({"camera_id": "c1", "source_url": "http://cam/mjpeg?fps=10"})


@pytest.mark.parametrize(
    "url",
    [
        'rtsp://admin:pa"ss@10.1.1.4/s',
        "rtsp://admin:pa ss@10.1.1.4/s",
        "rtsp://admin:pa<ss@10.1.1.4/s",
        "rtsp://admin:pa\\ss@10.1.1.4/s",
        "rtsp://admin:pa?ss@10.1.1.4/s",
    ],
)
def test_the_api_refuses_an_unencoded_url_naming_the_field(
    client: TestClient, admin: dict[str, str], unique: str, url: str
) -> None:
    r = client.post("/v1/cameras", json={"camera_id": f"cred-{unique}", "source_url": url}, headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["invalid_params"][0]["name"] == "source_url" and "percent-encode" in r.text
    assert "ss@" not in r.text


def test_the_api_seals_a_passphrase_it_does_not_recognise(
    client: TestClient, admin: dict[str, str], unique: str
) -> None:
    body = {
        "camera_id": f"cred-{unique}",
        "source_url": "srt://10.1.1.4:9000?passphrase=Zqs3cret",
        "protocol": "FFMPEG",
    }
    r = client.post("/v1/cameras", json=body, headers=admin)
    assert r.status_code == 202, r.text
    assert "Zq" not in r.text and r.json()["accepted"]["source_url"] == "srt://10.1.1.4:9000?passphrase=***"


# -- itscam secrets keygen --out --


def _keygen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "itscam", "secrets", "keygen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_keygen_writes_new_private_files_in_a_private_directory(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "seal"
    res = _keygen("--out", str(out))
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("seal.key", "seal.pub"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    key = (out / "seal.key").read_text()
    again = _keygen("--out", str(out))
    assert again.returncode == 2 and "--force" in again.stderr and (out / "seal.key").read_text() == key


def test_keygen_never_writes_through_a_symlink(tmp_path: Path) -> None:
    out, target = tmp_path / "keys", tmp_path / "elsewhere"
    out.mkdir()
    target.write_text("precious\n")
    (out / "seal.key").symlink_to(target)
    res = _keygen("--out", str(out))
    assert res.returncode == 2 and "exists" in res.stderr
    assert target.read_text() == "precious\n" and not (out / "seal.pub").exists()
    forced = _keygen("--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_text() == "precious\n"  # the link was replaced, not followed
    assert not (out / "seal.key").is_symlink() and stat.S_IMODE((out / "seal.key").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://127.0.0.1:1/stream?k=zz-secret-zz",  # a parameter name the redactor does not know
        "http://127.0.0.1:1/video.mjpg?session=a&x=zz-secret-zz",
        "rtsp://admin:zz-secret-zz@127.0.0.1:1/stream",
    ],
)
def test_a_camera_that_cannot_be_opened_says_so_without_its_credentials(url: str) -> None:
    """The error (which becomes the camera's status text and a log line) shows the URL as stored (display_url):
    whatever the secret parameter is called, its value is not in it; FFmpeg's own text is redacted too."""
    from streams.ingest.errors import SourceError
    from streams.ingest.source import SourceSpec, open_source

    with pytest.raises(SourceError) as err:
        next(iter(open_source(SourceSpec(url=url, fps=1, open_timeout_s=3))))
    assert "zz-secret-zz" not in str(err.value)
    assert "127.0.0.1" in str(err.value)  # it still names the camera


def test_reseal_rewrites_plaintext_records_of_an_older_release_sealed(
    bootstrap: str, make_topic: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Records written before credentials were sealed hold them in plaintext on the compacted topic:
    `itscam cameras reseal` rewrites exactly those, sealed, and prints none of the secrets."""
    from confluent_kafka import Producer

    from eventbus.config import producer_config
    from itscam.main import main
    from schemas.credentials import load_private_key, unseal
    from schemas.serde import codec

    topic = make_topic("cams", 1)
    old = {**camera_config("old-cam", URL), "source_secret": None}  # as an older release wrote it
    clean = {**camera_config("clean-cam", "rtsp://10.1.1.5/stream"), "source_secret": None}
    p = Producer(producer_config(bootstrap))
    for cfg in (old, clean):
        p.produce(topic, key=cfg["camera_id"].encode(), value=codec("CameraConfig").encode(cfg))
    assert p.flush(30) == 0
    assert main(["cameras", "reseal", "--topic", topic]) == 0
    out = capsys.readouterr().out
    _no_secret(out)
    assert "1 of 2 camera(s)" in out and "resealed old-cam" in out
    records = _raw_records(bootstrap, topic, 3)
    assert len(records) == 3  # only the plaintext one was rewritten
    key, value = records[-1]
    assert key == "old-cam" and value is not None
    _no_secret(value.decode(errors="replace"))
    newest = codec("CameraConfig").decode(value)
    assert unseal(newest["source_secret"], load_private_key(), "old-cam") == URL
