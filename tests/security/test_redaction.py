"""One redaction for every text that leaves a process (schemas.redaction.redact), property-tested over URL shapes:
the secret never survives, the host and path do, and redacting twice changes nothing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.redaction import redact

# Secrets start with "Zq" and nothing else generated holds an uppercase Z: `secret not in out` is meaningful.
_SAFE = "abcdefghijklmnopqrstuvwxyz0123456789"
_PASSWORD_CHARS = _SAFE + "ABCXY@:/!$&'()*+,;=~-._%"
_VALUE_CHARS = _SAFE + "ABCXY:/@!$'()*+,~-._%"

secrets_ = st.text(_PASSWORD_CHARS, min_size=1, max_size=20).map(lambda s: "Zq" + s)
query_secrets = st.text(_VALUE_CHARS, min_size=1, max_size=20).map(lambda s: "Zq" + s)
schemes = st.sampled_from(["rtsp", "rtsps", "http", "https", "whep", "wheps", "postgresql", "postgres", "redis"])
labels = st.text(_SAFE, min_size=1, max_size=10)
hosts = st.one_of(
    st.lists(labels, min_size=1, max_size=3).map(lambda p: ".".join(p) + ".example"),
    st.tuples(*[st.integers(1, 254)] * 4).map(lambda t: ".".join(map(str, t))),
    st.just("[2001:db8::1]"),
)
ports = st.none() | st.integers(1, 65535)
paths = st.lists(labels, max_size=3).map(lambda p: "/" + "/".join(p) if p else "")
users = st.text(_SAFE + "._-", min_size=1, max_size=10)
secret_names = st.sampled_from(
    [
        "token",
        "TOKEN",
        "key",
        "sig",
        "signature",
        "auth",
        "password",
        "passwd",
        "pwd",
        "secret",
        "access_token",
        "api_key",
        "apikey",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "credential",
        "client_secret",
        "X-Goog-Signature",
        "passphrase",
        "pw",
        "loginpas",
        "passcode",
        "x-api-key",
    ]
)
plain_params = st.lists(st.tuples(st.sampled_from(["x", "channel", "subtype", "fps"]), labels), max_size=2)


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, list[str], str, str]:
    """(url, its secrets, its host, its path)."""
    scheme, host, port, path = draw(schemes), draw(hosts), draw(ports), draw(paths)
    found: list[str] = []
    userinfo = ""
    kind = draw(st.sampled_from(["none", "user", "user:password"]))
    if kind == "user":
        userinfo = draw(users).replace("Z", "z") + "@"
    elif kind == "user:password":
        pw = draw(secrets_)
        found.append(pw)
        userinfo = f"{draw(users)}:{pw}@"
    params = [f"{k}={v}" for k, v in draw(plain_params)]
    for _ in range(draw(st.integers(0, 2))):
        value = draw(query_secrets)
        found.append(value)
        params.insert(draw(st.integers(0, len(params))), f"{draw(secret_names)}={value}")
    query = "?" + "&".join(params) if params else ""
    fragment = ""
    if draw(st.booleans()):
        value = draw(query_secrets)
        found.append(value)
        fragment = f"#{draw(secret_names)}={value}"
    hostport = host + (f":{port}" if port is not None else "")
    return f"{scheme}://{userinfo}{hostport}{path}{query}{fragment}", found, host, path


contexts = st.sampled_from(
    [
        "{}",
        "Cannot open camera source {} (RTSP_TCP): Connection refused.",
        "error: '{}' failed",
        'json: {{"source": "{}"}}',
        "<{}>",
        "Reading {}: ValueError('{}')",
    ]
)


@settings(max_examples=400)
@given(urls(), contexts)
def test_no_secret_survives_and_host_and_path_do(u: tuple[str, list[str], str, str], context: str) -> None:
    url, found, host, path = u
    text = context.format(url, url)
    out = redact(text)
    for secret in found:
        assert secret not in out, (text, out)
    assert host in out
    if path:
        assert path in out
    if found:
        assert "***" in out


@settings(max_examples=300)
@given(urls())
def test_a_percent_encoded_url_loses_its_secrets(u: tuple[str, list[str], str, str]) -> None:
    """A URL inside another URL's query value (`?next=rtsp%3A%2F%2Fu%3Ap%40h...`)."""
    url, found, host, _ = u
    encoded = quote(url, safe="")
    out = redact(f"GET /login?next={encoded}&x=1 failed")
    for secret in found:
        assert quote(secret, safe="") not in out, (encoded, out)
    assert quote(host, safe="") in out and out.endswith("&x=1 failed")
    assert redact(out) == out


assignments = st.sampled_from(["{}={}", "{} = {}", "{}: {}", "{}:{}", "  {}: {}\n", "{{'{}': '{}'}}", '"{}": "{}"'])


@settings(max_examples=300)
@given(secret_names, query_secrets, assignments)
def test_a_named_secret_never_survives(name: str, value: str, shape: str) -> None:
    """name=value, name = value, name: value (YAML, a header, free text), JSON and Python reprs."""
    if shape.strip().startswith("{}:") and name.lower() in ("key", "sig", "auth"):
        return  # a bare `key:` is too often a plain word
    text = "cfg " + shape.format(name, value) + " end"
    out = redact(text)
    assert value not in out, (text, out)
    assert redact(out) == out


@settings(max_examples=200)
@given(users, secrets_, hosts, st.sampled_from(["turn", "turns", "stun", "stuns"]))
def test_turn_and_stun_uris_lose_their_credentials(user: str, pw: str, host: str, scheme: str) -> None:
    out = redact(f"ice server {scheme}:{user}:{pw}@{host}:3478?transport=udp")
    assert pw not in out and f"{scheme}:***@{host}:3478" in out


@settings(max_examples=200)
@given(users, secrets_, hosts)
def test_a_json_escaped_quote_in_userinfo_stays_hidden(user: str, pw: str, host: str) -> None:
    text = json.dumps({"source": f'rtsp://{user}:{pw}"x@{host}/s'})
    out = redact(text)
    assert pw not in out and f"rtsp://***@{host}/s" in out


@settings(max_examples=400)
@given(urls(), contexts)
def test_redaction_is_idempotent(u: tuple[str, list[str], str, str], context: str) -> None:
    once = redact(context.format(u[0], u[0]))
    assert redact(once) == once


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_any_text_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://u:p@ss@host/path?x=1@y", "rtsp://***@host/path?x=1@y"),
        ("rtsp://user:p@ss@host/stream?token=abc", "rtsp://***@host/stream?token=***"),
        ("rtsp://admin:a/b:c@10.0.0.5:554/Streaming/101", "rtsp://***@10.0.0.5:554/Streaming/101"),
        ("rtsp://admin@cam/x", "rtsp://***@cam/x"),
        ("https://medium.com/@user", "https://medium.com/@user"),
        ("http://proxy/?next=rtsp://u:pw@cam/x", "http://proxy/?next=rtsp://***@cam/x"),
        ("postgresql://its:s3cret@db:5432/its?sslmode=require", "postgresql://***@db:5432/its?sslmode=require"),
        ("host=db user=its password=s3cret dbname=its", "host=db user=its password=*** dbname=its"),
        ("host=db password='s3 cret' dbname=its", "host=db password=*** dbname=its"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "Authorization: Bearer ***"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic ***"),
        ("{'Authorization': 'Bearer abc'}", "{'Authorization': 'Bearer ***'}"),
        ("sent Bearer abc123 to the camera", "sent Bearer *** to the camera"),
        ("send 'Authorization: Bearer its_<key_id>_<secret>'", "send 'Authorization: Bearer its_<key_id>_<secret>'"),
        ("Authorization: Bearer ***", "Authorization: Bearer ***"),
        ("user=its password=s3cret", "user=its password=***"),
        (
            "https://s3/o?X-Amz-Signature=ab12&X-Amz-Credential=AK%2F1&x=1",
            "https://s3/o?X-Amz-Signature=***&X-Amz-Credential=***&x=1",
        ),
        ("key its_0123456789ab_" + "Ab-_" * 11, "key its_0123456789ab_***"),
        ('{"password": "hunter2", "name": "a"}', '{"password": "***", "name": "a"}'),
        ("ValueError('token=abc')", "ValueError('token=***"),
        ("whep://cam/x#auth=zz", "whep://cam/x#auth=***"),
        ("camera c1 at rtsp://cam.example/stream is ONLINE", "camera c1 at rtsp://cam.example/stream is ONLINE"),
        # the security review's misses
        ("password = secret", "password = ***"),
        ("host=db password = s3cret dbname=its", "host=db password = *** dbname=its"),
        ("password: hunter2", "password: ***"),
        ("db:\n  password: hunter2\n  user: its", "db:\n  password: ***\n  user: its"),
        ("x-api-key: abc123", "x-api-key: ***"),
        ("X-Api-Key: <value>", "X-Api-Key: <value>"),
        ("X-API-Key: its_0123456789ab_" + "a" * 30, "X-API-Key: ***"),
        ("turn:user:pass@turn.example:3478", "turn:***@turn.example:3478"),
        ("stun:u:p@ss@stun.example", "stun:***@stun.example"),
        ("turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=udp"),
        ('"rtsp://u:p\\"w@h"', '"rtsp://***@h"'),
        ('{"source": "rtsp://u:p\\"w@h/s"}', '{"source": "rtsp://***@h/s"}'),
        ("rtsp%3A%2F%2Fu%3Ap%40h", "rtsp%3A%2F%2F***%40h"),
        ("/x?next=rtsp%3a%2f%2fu%3Ap%2Fq%40h%2Fs&y=1", "/x?next=rtsp%3a%2f%2f***%40h%2Fs&y=1"),
        ("/x?next=http%3A%2F%2Fh%2F%40user", "/x?next=http%3A%2F%2Fh%2F%40user"),
        ("/x?next=%2Fs%3Ftoken%3Dabc%26x%3D1", "/x?next=%2Fs%3Ftoken%3D***%26x%3D1"),
        ("srt://cam:9000?passphrase=abc", "srt://cam:9000?passphrase=***"),
        ("rtsp://cam/s?pw=abc", "rtsp://cam/s?pw=***"),
        ("rtsp://cam/s?loginpas=abc", "rtsp://cam/s?loginpas=***"),
        ("rtsp://cam/s?passcode=1&x=2", "rtsp://cam/s?passcode=***&x=2"),
        ("partition key: 3, session: 4", "partition key: 3, session: 4"),
    ],
)
def test_known_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a://" * 50_000,
        "a" * 200_000,
        " " + "a" * 200_000 + "=",
        "a://b/" * 30_000 + "@",
        "Bearer " * 30_000,
        "a%3A%2F%2F" * 20_000,
        "a%3A%2F%2F" + "b" * 200_000 + "%40",
        "turn:" * 40_000,
        "turn:" + "a" * 200_000 + "@",
        " password:" * 20_000,
        " pass" * 40_000 + ":",
        "a://" + "\\a" * 100_000 + "@",
        "%3Fpass" * 30_000,
    ],
)
def test_a_long_hostile_text_costs_linear_time(text: str) -> None:
    """A quadratic pattern would take minutes on these 200 kB; the bound is generous for a shared machine."""
    t0 = time.monotonic()
    redact(text)
    assert time.monotonic() - t0 < 20


def test_the_old_names_re_export_the_one_function() -> None:
    from schemas import cameras, redaction
    from streams import ingest

    assert cameras.redact is redaction.redact
    assert ingest.redact is redaction.redact


def test_log_lines_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from itscam.logs import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("test-redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "open rtsp://u:p@ss@cam/x?token=abc failed",
            extra={"source": "rtsp://u:p@ss@cam/x", "password": "hunter2", "frames": 3, "key": "c1"},
        )
        try:
            raise ValueError("cannot connect postgresql://its:s3cret@db/its")
        except ValueError:
            log.exception("boom Authorization: Bearer zzz")
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err
    for secret in ("p@ss", "abc", "hunter2", "s3cret", "zzz"):
        assert secret not in err
    first, second = (json.loads(line) for line in err.splitlines())
    assert first["source"] == "rtsp://***@cam/x" and first["frames"] == 3 and first["key"] == "c1"
    assert "postgresql://***@db/its" in second["exc"]


def test_cli_errors_are_redacted() -> None:
    # a DSN with a password nobody listens on: the connection error must not echo it
    dsn = "postgresql://its:s3cretpw@127.0.0.1:1/its?connect_timeout=1"
    res = subprocess.run(
        [sys.executable, "-m", "itscam", "db", "migrate", "--dsn", dsn],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "s3cretpw" not in res.stderr + res.stdout and "postgresql://***@127.0.0.1:1/its" in res.stderr
