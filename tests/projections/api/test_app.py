"""The query API against the real PostgreSQL, Redis and Kafka of the local stack: health, readiness, outages,
documents and the read routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
from pydantic import SecretStr
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from projections.api import ApiSettings, create_app
from tests.projections.api.conftest import (
    DAY,
    add_camera,
    add_counts,
    add_status,
    add_vehicle_events,
    count_rows,
    is_problem,
    set_live,
)

pytestmark = pytest.mark.integration


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["checks"] == {"postgresql": "ok", "redis": "ok", "kafka": "ok"}


def test_ready_names_the_missing_service(api_settings: ApiSettings) -> None:
    s = api_settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0"), "ready_timeout_s": 1.0})
    with TestClient(create_app(s)) as c:
        body = is_problem(c.get("/ready"), 503)
    assert "redis" in str(body["detail"]) and "postgresql" not in str(body["detail"])
    assert body["checks"]["redis"].startswith("down")


def test_a_database_outage_is_a_503_problem(api_settings: ApiSettings, admin: dict[str, str]) -> None:
    s = api_settings.model_copy(
        update={
            "pg_dsn": SecretStr("postgresql://postgres@127.0.0.1:1/its"),
            "ready_timeout_s": 1.0,
            "pool_timeout_s": 1.0,
        }
    )
    with TestClient(create_app(s)) as c:
        body = is_problem(c.get("/v1/cameras", headers=admin), 503)
    assert "PostgreSQL" in str(body["detail"])


def test_openapi_and_docs_are_public(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    ops = {(p, m) for p, item in spec["paths"].items() for m in item}
    assert ("/v1/cameras", "post") in ops and ("/v1/cameras/{camera_id}/counts", "get") in ops
    assert ("/v1/stream", "get") in ops and ("/v1/audit", "get") in ops
    counts = spec["paths"]["/v1/cameras/{camera_id}/counts"]["get"]
    bucket = next(p for p in counts["parameters"] if p["name"] == "bucket")
    assert bucket["schema"]["enum"] == ["1m", "5m", "15m", "1h", "1d"]
    assert counts["responses"]["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/v1/cameras/{camera_id}/vehicle-events" in docs.text and "<script" not in docs.text


def test_openapi_covers_every_route_and_method(api_settings: ApiSettings) -> None:
    from starlette.routing import Route

    app = create_app(api_settings)
    spec_ops = {(p, m) for p, item in app.state.openapi["paths"].items() for m in item}
    for r in app.routes:
        if isinstance(r, Route) and r.path != "/ui/":  # /ui/ only redirects to /ui
            for method in r.methods or ():
                if method != "HEAD":
                    assert (r.path, method.lower()) in spec_ops, (r.path, method)


def test_cameras_pages_and_detail(client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str) -> None:
    cams = [f"cam-{unique}-{i}" for i in range(5)]
    with psycopg.connect(pg_dsn) as conn:
        for c in cams:
            add_camera(conn, c)
        add_status(conn, cams[0])
        add_camera(conn, f"cam-{unique}-gone")
        conn.execute("UPDATE cameras SET deleted_at = now() WHERE camera_id = %s", (f"cam-{unique}-gone",))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/cameras", params=params, headers=admin).json()
        assert len(page["items"]) <= 2
        seen += [c["camera_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    mine = [c for c in seen if unique in c]
    assert mine == cams and len(seen) == len(set(seen))
    doc = client.get(f"/v1/cameras/{cams[0]}", headers=admin).json()
    assert doc["source_url"] == "rtsp://***@10.0.0.1/stream" and doc["config"]["source_url"].startswith("rtsp://***@")
    assert doc["status"]["status"] == "ONLINE" and doc["status"]["changed_at"] == DAY.isoformat()
    assert client.get(f"/v1/cameras/{cams[1]}", headers=admin).json()["status"] is None
    is_problem(client.get(f"/v1/cameras/cam-{unique}-gone", headers=admin), 404)


def test_live_is_served_from_redis(
    client: TestClient, admin: dict[str, str], stack: StackSettings, pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    today = datetime.now(UTC).date().isoformat()
    frame = set_live(redis.Redis.from_url(stack.redis_url), cam, DAY, today)
    doc = client.get(f"/v1/cameras/{cam}/live", headers=admin).json()
    assert doc["camera_id"] == cam and doc["frame"] == frame and doc["status"]["status"] == "ONLINE"
    assert doc["counts_today"] == {
        "day": today,
        "vehicles": 5,
        "IN": 3,
        "OUT": 2,
        "by_line": {"l1": {"IN": 3, "OUT": 1}, "l2": {"IN": 0, "OUT": 1}},
        "by_class": {"bus": 1, "car": 4},
    }
    # yesterday's counters read as zero today; a camera only PostgreSQL knows has an empty live state
    other = f"cam-{unique}-pg"
    redis.Redis.from_url(stack.redis_url).hset(f"its:counts:{cam}", "day", "2020-01-01")
    assert client.get(f"/v1/cameras/{cam}/live", headers=admin).json()["counts_today"]["vehicles"] == 0
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, other)
    doc = client.get(f"/v1/cameras/{other}/live", headers=admin).json()
    assert doc["frame"] is None and doc["status"] is None and doc["counts_today"]["vehicles"] == 0
    is_problem(client.get(f"/v1/cameras/{cam}-nowhere/live", headers=admin), 404)


@pytest.mark.parametrize("bucket", ["1m", "15m", "1h", "1d"])
@pytest.mark.parametrize(
    "filters", [{}, {"line_id": "l2"}, {"class": "truck"}, {"direction": "OUT"}, {"line_id": "l1", "class": "bus"}]
)
def test_counts_buckets_sum_correctly(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str, bucket: str, filters: dict[str, str]
) -> None:
    cam = f"cam-{unique}"
    rows = count_rows(cam, 150, DAY + timedelta(hours=23))  # crosses midnight: two 1d buckets
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_counts(conn, rows)
    keep = [
        r
        for r in rows
        if filters.get("line_id", r[2]) == r[2]
        and filters.get("class", r[3]) == r[3]
        and filters.get("direction", r[4]) == r[4]
    ]
    params = {"bucket": bucket, "from": "2026-01-05T00:00:00Z", "to": "2026-01-07T00:00:00Z", **filters}
    doc = client.get(f"/v1/cameras/{cam}/counts", params=params, headers=admin).json()
    width = {"1m": 60, "15m": 900, "1h": 3600, "1d": 86400}[bucket]
    expect: dict[str, dict[str, int]] = {}
    for r in keep:
        t = r[1].timestamp()
        start = datetime.fromtimestamp(t - t % width, UTC).isoformat()
        b = expect.setdefault(start, {"vehicles": 0, "IN": 0, "OUT": 0})
        b["vehicles"] += r[5]
        b[r[4]] += r[5]
    got = {b["start"]: {k: b[k] for k in ("vehicles", "IN", "OUT")} for b in doc["buckets"]}
    assert got == expect
    # the same per line: each bucket's lines add up to the bucket, and match the rows line by line
    per_line: dict[tuple[str, str], dict[str, int]] = {}
    for r in keep:
        t = r[1].timestamp()
        start = datetime.fromtimestamp(t - t % width, UTC).isoformat()
        b = per_line.setdefault((start, r[2]), {"vehicles": 0, "IN": 0, "OUT": 0})
        b["vehicles"] += r[5]
        b[r[4]] += r[5]
    got_lines = {
        (b["start"], line_id): {k: v[k] for k in ("vehicles", "IN", "OUT")}
        for b in doc["buckets"]
        for line_id, v in b["lines"].items()
    }
    assert got_lines == per_line
    for b in doc["buckets"]:
        assert sum(v["vehicles"] for v in b["lines"].values()) == b["vehicles"]
        assert all(sum(v["by_class"].values()) == v["vehicles"] for v in b["lines"].values())
    assert set(doc["totals"]["lines"]) <= {r[2] for r in keep}
    for b in doc["buckets"]:
        assert sum(b["by_class"].values()) == b["vehicles"] and b["mean_speed_kmh"] == 50.0
        assert datetime.fromisoformat(b["end"]) - datetime.fromisoformat(b["start"]) == timedelta(seconds=width)
    assert doc["totals"]["vehicles"] == sum(r[5] for r in keep)
    assert doc["filters"] == filters


def test_counts_answers_are_cached(client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_counts(conn, count_rows(cam, 10))
    params = {"bucket": "1h", "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"}
    first = client.get(f"/v1/cameras/{cam}/counts", params=params, headers=admin).json()
    with psycopg.connect(pg_dsn) as conn:
        add_counts(conn, count_rows(cam, 1, DAY + timedelta(hours=5)))
    assert client.get(f"/v1/cameras/{cam}/counts", params=params, headers=admin).json() == first


def test_vehicle_event_pages_walk_every_event_once(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        ids = add_vehicle_events(conn, cam, 47)
    for limit, filters, want in [(5, {}, ids), (1000, {}, ids), (4, {"direction": "OUT"}, ids[1::2])]:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": limit, "from": "2026-01-04T00:00:00Z", "to": "2026-01-06T00:00:00Z", **filters}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/v1/cameras/{cam}/vehicle-events", params=params, headers=admin).json()
            seen += [e["event_id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(want) and len(seen) == len(set(seen))
        assert seen == sorted(want, key=lambda e: (int(e.rsplit("e", 1)[1]) // 3, e), reverse=True)


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("counts", {"from": "yesterday"}, "from"),
        ("counts", {"to": "2026-13-01"}, "to"),
        ("counts", {"bucket": "7m"}, "bucket"),
        ("counts", {"direction": "UP"}, "direction"),
        ("counts", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ("counts", {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ("counts", {"from": "0001-01-01T00:00:00+23:59"}, "from"),
        ("vehicle-events", {"limit": "1001"}, "limit"),
        ("vehicle-events", {"limit": "0"}, "limit"),
        ("vehicle-events", {"cursor": "not-a-cursor"}, "cursor"),
        ("vehicle-events", {"cursor": "WzEsMl0"}, "cursor"),  # [1,2]: a cursor of another list
        ("vehicle-events", {"line_id": "x" * 129}, "line_id"),
        ("detections", {"limit": "many"}, "limit"),
        ("stats", {"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_query_parameters_are_400_problems(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str, path: str, params: dict[str, str], name: str
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    body = is_problem(client.get(f"/v1/cameras/{cam}/{path}", params=params, headers=admin), 400)
    assert body["invalid_params"][0]["name"] == name


def test_bad_list_parameters_are_400_problems(client: TestClient, admin: dict[str, str]) -> None:
    is_problem(client.get("/v1/cameras", params={"limit": "-1"}, headers=admin), 400)
    is_problem(client.get("/v1/incidents", params={"state": "maybe"}, headers=admin), 400)
    is_problem(client.get("/v1/incidents", params={"type": "FIRE"}, headers=admin), 400)
    is_problem(client.get("/v1/audit", params={"cursor": "WyJ4Il0"}, headers=admin), 400)
    is_problem(client.get("/v1/stream", params={"types": "detections,weather"}, headers=admin), 400)


def test_unknown_camera_incident_and_route_are_404_problems(client: TestClient, admin: dict[str, str]) -> None:
    for path in ("", "/live", "/counts", "/vehicle-events", "/stats", "/detections"):
        is_problem(client.get(f"/v1/cameras/no-such-camera{path}", headers=admin), 404)
    is_problem(client.get("/v1/cameras/%20bad%20id", headers=admin), 404)
    is_problem(client.get("/v1/incidents/no-such-incident", headers=admin), 404)
    is_problem(client.get("/v2/nothing", headers=admin), 404)
    is_problem(client.post("/v1/fleet", headers=admin), 405)


def test_incidents_stats_and_fleet(client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        for i, state in enumerate(["OPEN", "CLOSED", "OPEN"]):
            conn.execute(
                "INSERT INTO incidents (incident_id, camera_id, type, state, started_at, ended_at, detail)"
                " VALUES (%s, %s, 'WRONG_WAY', %s, %s, %s, 'wrong way on l1')",
                (f"{cam}-i{i}", cam, state, DAY + timedelta(minutes=i), DAY if state == "CLOSED" else None),
            )
        conn.execute(
            "INSERT INTO traffic_stats VALUES (%s, %s, %s, 600, 7, 48.5, 3, 0.2, 0, 'NEXT_FRAME')",
            (cam, DAY, DAY + timedelta(minutes=1)),
        )
        conn.execute("INSERT INTO traffic_stats_counts VALUES (%s, %s, 'l1', 'car', 'IN', 7)", (cam, DAY))
    rng = {"from": "2026-01-04T00:00:00Z", "to": "2026-01-06T00:00:00Z"}
    page = client.get("/v1/incidents", params={"camera_id": cam, "state": "open", **rng}, headers=admin).json()
    assert [i["incident_id"] for i in page["items"]] == [f"{cam}-i2", f"{cam}-i0"]
    one = client.get(f"/v1/incidents/{cam}-i1", headers=admin).json()
    assert one["state"] == "CLOSED" and one["ended_at"] == DAY.isoformat()
    stats = client.get(f"/v1/cameras/{cam}/stats", params=rng, headers=admin).json()
    assert stats["items"][0]["vehicles"] == 7
    assert stats["items"][0]["counts"] == [{"line_id": "l1", "class_name": "car", "direction": "IN", "count": 7}]
    fleet = client.get("/v1/fleet", headers=admin).json()
    assert (
        fleet["cameras"] >= 1 and fleet["open_incidents"] >= 2 and sum(fleet["by_status"].values()) == fleet["cameras"]
    )


def test_a_redis_outage_is_a_503_problem(api_settings: ApiSettings, admin: dict[str, str]) -> None:
    s = api_settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0"), "ready_timeout_s": 1.0})
    with TestClient(create_app(s)) as c:
        for path in ("/v1/cameras/x/live", "/v1/cameras/x/counts", "/v1/fleet"):
            r = c.get(path, headers=admin)
            body = is_problem(r, 503)
            assert "Redis" in body["detail"] and r.headers["retry-after"]


def test_detection_counts_per_class_and_bucket(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        for minute, frames, classes in [(0, 600, {"car": 40, "truck": 5}), (1, 590, {"car": 10}), (75, 10, {"bus": 1})]:
            at = DAY + timedelta(hours=8, minutes=minute)
            conn.execute("INSERT INTO frames_minute VALUES (%s, %s, %s)", (cam, at, frames))
            for cls, n in classes.items():
                conn.execute("INSERT INTO class_counts_minute VALUES (%s, %s, %s, %s)", (cam, at, cls, n))
    params = {"bucket": "1h", "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"}
    doc = client.get(f"/v1/cameras/{cam}/detection-counts", params=params, headers=admin).json()
    assert doc["totals"] == {"frames": 1200, "counts": {"bus": 1, "car": 50, "truck": 5}}
    assert [(b["start"], b["frames"], b["counts"]) for b in doc["buckets"]] == [
        ("2026-01-05T08:00:00+00:00", 1190, {"car": 50, "truck": 5}),
        ("2026-01-05T09:00:00+00:00", 10, {"bus": 1}),
    ]
    is_problem(client.get(f"/v1/cameras/{cam}-none/detection-counts", headers=admin), 404)
    is_problem(client.get(f"/v1/cameras/{cam}/detection-counts", params={"bucket": "2h"}, headers=admin), 400)
