"""API keys, scopes, rate limits and the audit log, against the real PostgreSQL and Redis."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import psycopg
import pytest
from starlette.testclient import TestClient

from itscam.main import main
from projections.api import ApiSettings, create_app
from tests.projections.api.conftest import add_camera, is_problem

pytestmark = pytest.mark.integration


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_keys_cli_prints_the_token_once_and_stores_only_its_hash(
    pg_dsn: str, capsys: pytest.CaptureFixture[str], unique: str
) -> None:
    assert main(["keys", "create", "--name", f"n-{unique}", "--scopes", "read,ops", "--rate-per-minute", "60",
                 "--dsn", pg_dsn]) == 0  # fmt: skip
    out = capsys.readouterr().out
    token = next(line.split()[1] for line in out.splitlines() if line.startswith("token:"))
    _, key_id, secret = token.split("_", 2)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute(
            "SELECT name, secret_sha256, scopes, rate_per_minute, revoked_at, api_keys::text FROM api_keys"
            " WHERE key_id = %s",
            (key_id,),
        ).fetchone()
    assert row is not None
    name, digest, scopes, rate, revoked, whole_row = row
    assert (name, scopes, rate, revoked) == (f"n-{unique}", ["read", "ops"], 60, None)
    assert digest == hashlib.sha256(secret.encode()).hexdigest() and secret not in whole_row
    assert len(secret) >= 43  # 256 bits, base64url
    main(["keys", "list", "--dsn", pg_dsn])
    listed = capsys.readouterr().out
    assert key_id in listed and secret not in listed and "active" in listed
    assert main(["keys", "revoke", key_id, "--dsn", pg_dsn]) == 0
    main(["keys", "list", "--dsn", pg_dsn])
    assert f"{key_id}  n-{unique}" in capsys.readouterr().out
    assert main(["keys", "revoke", key_id, "--dsn", pg_dsn]) == 2  # already revoked: an error naming the fix
    assert main(["keys", "create", "--name", "x", "--scopes", "root", "--dsn", pg_dsn]) == 2
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


def test_no_wrong_or_revoked_key_is_401(api_settings: ApiSettings, make_key: Callable[..., str], pg_dsn: str) -> None:
    token = make_key("read")
    key_id = token.split("_")[1]
    s = api_settings.model_copy(update={"key_cache_s": 0.0})
    with TestClient(create_app(s)) as c:
        for headers in (
            {},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            _bearer("its_nope"),
            _bearer(token[:-1] + ("A" if token[-1] != "A" else "B")),  # right key id, wrong secret
            _bearer("its_000000000000_" + "a" * 43),  # unknown key id
            {"X-API-Key": "its_\x7f"},
        ):
            r = c.get("/v1/fleet", headers=headers)
            is_problem(r, 401)
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/v1/fleet", headers=_bearer(token)).status_code == 200
        assert c.get("/v1/fleet", headers={"X-API-Key": token}).status_code == 200
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s", (key_id,))
        is_problem(c.get("/v1/fleet", headers=_bearer(token)), 401)
        # public routes need no key
        assert c.get("/health").status_code == 200 and c.get("/openapi.json").status_code == 200


def test_revocation_takes_effect_within_the_key_cache_time(
    api_settings: ApiSettings, make_key: Callable[..., str], pg_dsn: str
) -> None:
    token = make_key("read")
    s = api_settings.model_copy(update={"key_cache_s": 1.0})
    with TestClient(create_app(s)) as c:
        assert c.get("/v1/fleet", headers=_bearer(token)).status_code == 200
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s", (token.split("_")[1],))
        assert c.get("/v1/fleet", headers=_bearer(token)).status_code == 200  # cached: still trusted
        time.sleep(1.1)
        is_problem(c.get("/v1/fleet", headers=_bearer(token)), 401)


def test_insufficient_scope_is_403(client: TestClient, make_key: Callable[..., str]) -> None:
    read, ops = _bearer(make_key("read")), _bearer(make_key("ops"))
    body = is_problem(client.post("/v1/cameras", json={"camera_id": "x", "source_url": "a"}, headers=read), 403)
    assert "'ops'" in body["detail"]
    is_problem(client.delete("/v1/cameras/x", headers=read), 403)
    is_problem(client.get("/v1/audit", headers=read), 403)
    is_problem(client.get("/v1/audit", headers=ops), 403)
    assert client.get("/v1/fleet", headers=ops).status_code == 200  # ops implies read


def test_over_the_rate_is_429_with_retry_after(client: TestClient, make_key: Callable[..., str]) -> None:
    token = make_key("read", rate=3)
    codes = [client.get("/v1/fleet", headers=_bearer(token)).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = client.get("/v1/fleet", headers=_bearer(token))
    body = is_problem(r, 429)
    assert 1 <= int(r.headers["retry-after"]) <= 20 and "3 requests per minute" in body["detail"]
    other = make_key("read", rate=3)  # limits are per key
    assert client.get("/v1/fleet", headers=_bearer(other)).status_code == 200


def test_every_request_is_audited_including_refusals(
    api_settings: ApiSettings, make_key: Callable[..., str], pg_dsn: str, unique: str
) -> None:
    read = make_key("read", rate=2)
    key_id = read.split("_")[1]
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    with TestClient(create_app(api_settings)) as c:
        c.get(f"/v1/cameras/{cam}?x=1")  # 401
        c.get(f"/v1/cameras/{cam}", headers=_bearer(read))  # 200
        c.get(f"/v1/cameras/{cam}-missing", headers=_bearer(read))  # 404
        c.delete(f"/v1/cameras/{cam}", headers=_bearer(read))  # 403
        c.get(f"/v1/cameras/{cam}", headers=_bearer(read))  # 429
        c.get(f"/v1/cameras/{cam}%00x")  # 401, a NUL in the path must not break the batch
    # the lifespan's shutdown wrote the queued rows
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT method, path, route, query, status, key_id, request_id, duration_ms FROM audit_log"
            " WHERE path LIKE %s ORDER BY id",
            (f"/v1/cameras/{cam}%",),
        ).fetchall()
    got = [(m, p, r, q, s, k) for m, p, r, q, s, k, _, _ in rows]
    assert got == [
        ("GET", f"/v1/cameras/{cam}", None, "x=1", 401, None),
        ("GET", f"/v1/cameras/{cam}", "/v1/cameras/{camera_id}", "", 200, key_id),
        ("GET", f"/v1/cameras/{cam}-missing", "/v1/cameras/{camera_id}", "", 404, key_id),
        ("DELETE", f"/v1/cameras/{cam}", None, "", 403, key_id),
        ("GET", f"/v1/cameras/{cam}", None, "", 429, key_id),
        ("GET", f"/v1/cameras/{cam}\\x00x", None, "", 401, None),
    ]
    assert len({r[6] for r in rows}) == len(rows) and all(r[7] >= 0 for r in rows)


def test_audit_route_lists_rows_for_admins(client: TestClient, make_key: Callable[..., str]) -> None:
    token = make_key("admin")
    key_id = token.split("_")[1]
    for _ in range(3):
        client.get("/v1/fleet", headers=_bearer(token))
    deadline = time.monotonic() + 10
    while True:
        page = client.get("/v1/audit", params={"key_id": key_id, "limit": 2}, headers=_bearer(token)).json()
        if len(page["items"]) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [i["key_id"] for i in page["items"]] == [key_id, key_id] and page["next_cursor"]
    rest = client.get(
        "/v1/audit", params={"key_id": key_id, "cursor": page["next_cursor"]}, headers=_bearer(token)
    ).json()
    assert rest["items"] and all(i["id"] < page["items"][-1]["id"] for i in rest["items"])


def test_the_hot_routes_take_their_token_in_the_same_script(
    client: TestClient, make_key: Callable[..., str], pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    token = _bearer(make_key("read", rate=4))
    assert client.get(f"/v1/cameras/{cam}/live", headers=token).status_code == 200
    assert client.get(f"/v1/cameras/{cam}/counts", headers=token).status_code == 200
    is_problem(client.get(f"/v1/cameras/{cam}/counts", params={"bucket": "2m"}, headers=token), 400)  # counted too
    assert client.get(f"/v1/cameras/{cam}/live", headers=token).status_code == 200
    for path in ("live", "counts"):
        r = client.get(f"/v1/cameras/{cam}/{path}", headers=token)
        is_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
