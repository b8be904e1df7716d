"""The query API against the real PostgreSQL, Redis and Kafka of the local stack."""

from collections.abc import Iterator

import psycopg
import pytest
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from projections.api import ApiSettings, create_app
from projections.cache import LiveCache
from projections.store import PgStore
from tests.projections.factories import T0, detections_event

pytestmark = pytest.mark.integration


@pytest.fixture
def client(stack: StackSettings, pg_dsn: str, bootstrap: str) -> Iterator[TestClient]:
    s = ApiSettings(pg_dsn=pg_dsn, redis_url=stack.redis_url, kafka_bootstrap=bootstrap)
    with TestClient(create_app(s)) as c:
        yield c


@pytest.fixture
def camera(pg_dsn: str, stack: StackSettings, unique: str) -> str:
    import redis

    cam = f"cam-{unique}"
    events = [detections_event(cam, i, ["car", "car"] if i % 2 else ["truck"]) for i in range(10)]
    with psycopg.connect(pg_dsn) as conn:
        PgStore(conn, f"g-{unique}").write(events, {})
    LiveCache(redis.Redis.from_url(stack.redis_url)).update(events)
    return cam


def _is_problem(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = r.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["detail"]
    return body


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["checks"] == {"postgresql": "ok", "redis": "ok", "kafka": "ok"}


def test_ready_names_the_missing_service(stack: StackSettings, pg_dsn: str, bootstrap: str) -> None:
    s = ApiSettings(pg_dsn=pg_dsn, redis_url="redis://127.0.0.1:1/0", kafka_bootstrap=bootstrap, ready_timeout_s=1.0)
    with TestClient(create_app(s)) as c:
        body = _is_problem(c.get("/ready"), 503)
    assert "redis" in str(body["detail"]) and "postgresql" not in str(body["detail"])
    assert body["checks"]["redis"].startswith("down")  # type: ignore[index]


def test_counts_per_class_and_bucket(client: TestClient, camera: str) -> None:
    r = client.get(
        f"/v1/cameras/{camera}/counts",
        params={"from": "2026-01-05T07:00:00Z", "to": "2026-01-05T09:00:00Z", "bucket": "1m"},
    )
    assert r.status_code == 200
    doc = r.json()
    assert doc["totals"] == {"frames": 10, "counts": {"car": 10, "truck": 5}}
    assert doc["buckets"] == [
        {"start": T0.isoformat(), "end": "2026-01-05T08:01:00+00:00", "frames": 10, "counts": {"car": 10, "truck": 5}}
    ]
    hourly = client.get(
        f"/v1/cameras/{camera}/counts",
        params={"from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z", "bucket": "1h"},
    )
    assert hourly.json()["buckets"][0]["start"] == "2026-01-05T08:00:00+00:00"


def test_cameras_live_and_frame_detections(client: TestClient, camera: str) -> None:
    assert camera in [c["camera_id"] for c in client.get("/v1/cameras").json()["items"]]
    assert client.get(f"/v1/cameras/{camera}").json()["frames"] == 10
    live = client.get(f"/v1/cameras/{camera}/live").json()
    assert live["frame_seq"] == 9
    items = client.get(f"/v1/cameras/{camera}/detections", params={"frame_seq": 3}).json()["items"]
    assert len(items) == 1 and [d["class_name"] for d in items[0]["detections"]] == ["car", "car"]


@pytest.mark.parametrize(
    ("params", "name"),
    [({"from": "yesterday"}, "from"), ({"to": "2026-13-01"}, "to"), ({"bucket": "7m"}, "bucket")],
)
def test_bad_query_parameters_are_problems(client: TestClient, camera: str, params: dict[str, str], name: str) -> None:
    body = _is_problem(client.get(f"/v1/cameras/{camera}/counts", params=params), 400)
    assert f"'{name}'" in str(body["detail"])


def test_inverted_and_too_long_ranges_are_problems(client: TestClient, camera: str) -> None:
    _is_problem(
        client.get(
            f"/v1/cameras/{camera}/counts", params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
        ),
        400,
    )
    _is_problem(
        client.get(
            f"/v1/cameras/{camera}/counts", params={"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
        ),
        400,
    )


def test_unknown_camera_and_route_are_problems(client: TestClient) -> None:
    _is_problem(client.get("/v1/cameras/no-such-camera"), 404)
    _is_problem(client.get("/v1/cameras/no-such-camera/live"), 404)
    _is_problem(client.get("/v2/nothing"), 404)
    _is_problem(client.get("/v1/cameras/x/detections", params={"limit": "many"}), 400)


def test_a_database_outage_is_a_503_problem(stack: StackSettings, bootstrap: str) -> None:
    s = ApiSettings(
        pg_dsn="postgresql://postgres@127.0.0.1:1/its",
        redis_url=stack.redis_url,
        kafka_bootstrap=bootstrap,
        ready_timeout_s=1.0,
        pool_timeout_s=1.0,
    )
    with TestClient(create_app(s)) as c:
        body = _is_problem(c.get("/v1/cameras"), 503)
    assert "PostgreSQL" in str(body["detail"])
