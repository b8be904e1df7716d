"""GET /v1/cameras/{id}/movements (the origin-destination matrix per bucket) and /snapshot.jpg, on the real
PostgreSQL and Redis."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import psycopg
import pytest
import redis
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from projections.snapshots import snapshot_key, write_snapshots
from tests.projections.api.conftest import DAY, add_camera, is_problem

pytestmark = pytest.mark.integration

ZONES = [
    {"zone_id": z, "name": n, "kind": "approach", "points": [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}]}
    for z, n in (("n", "North"), ("s", "South"), ("e", "East"), ("w", "West"))
]
#: (minute offset, origin, destination, class, vehicles)
ROWS = [
    (0, "n", "s", "car", 3),
    (1, "n", "s", "truck", 1),
    (7, "n", "e", "car", 2),
    (16, "s", "n", "car", 4),
    (16, "w", "e", "bus", 1),
    (40, "e", "w", "car", 5),
    (61, "n", "s", "car", 2),
]


def _seed(conn: psycopg.Connection[object], cam: str) -> None:
    add_camera(conn, cam, zones=ZONES)
    with conn.cursor() as cur:
        for m, o, d, cls, n in ROWS:
            cur.execute(
                "INSERT INTO movement_counts_minute (camera_id, minute, origin_zone_id, destination_zone_id,"
                " class_name, origin_name, destination_name, vehicles) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (cam, DAY + timedelta(minutes=m), o, d, cls, o.upper(), d.upper(), n),
            )


@pytest.mark.parametrize(("bucket", "width"), [("15m", 15), ("1h", 60)])
def test_movements_are_the_od_matrix_per_bucket(
    client: TestClient, admin: dict[str, str], pg_dsn: str, unique: str, bucket: str, width: int
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        _seed(conn, cam)
    params = {"bucket": bucket, "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"}
    doc = client.get(f"/v1/cameras/{cam}/movements", params=params, headers=admin).json()
    expect: dict[str, Counter[tuple[str, str]]] = {}
    for m, o, d, _cls, n in ROWS:
        start = (DAY + timedelta(minutes=m - m % width)).isoformat()
        expect.setdefault(start, Counter())[(o, d)] += n
    got = {
        b["start"]: Counter({(o, d): n for o, row in b["matrix"].items() for d, n in row.items()})
        for b in doc["buckets"]
    }
    assert got == expect
    for b in doc["buckets"]:
        assert b["vehicles"] == sum(b["by_class"].values()) == sum(sum(r.values()) for r in b["matrix"].values())
    assert doc["totals"]["vehicles"] == sum(r[4] for r in ROWS)
    assert doc["totals"]["matrix"]["n"] == {"s": 6, "e": 2}
    # the configured approach names win over the names stored with the counts
    assert doc["approaches"] == {"e": "East", "n": "North", "s": "South", "w": "West"}
    only = client.get(f"/v1/cameras/{cam}/movements", params={**params, "class": "car"}, headers=admin).json()
    assert only["totals"]["vehicles"] == sum(r[4] for r in ROWS if r[3] == "car")
    assert only["filters"] == {"class": "car"}


def test_movements_of_an_unknown_camera_or_bucket_are_problems(
    client: TestClient, admin: dict[str, str], unique: str
) -> None:
    is_problem(client.get(f"/v1/cameras/nope-{unique}/movements", headers=admin), 404)
    is_problem(client.get(f"/v1/cameras/nope-{unique}/movements", params={"bucket": "7m"}, headers=admin), 400)


def test_snapshot_serves_the_kept_still_with_its_frame_headers(
    client: TestClient, make_key: object, pg_dsn: str, stack: StackSettings, unique: str
) -> None:
    cam = f"cam-{unique}"
    read = {"Authorization": f"Bearer {make_key('read')}"}  # type: ignore[operator]
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    r = redis.Redis.from_url(stack.redis_url)
    try:
        missing = is_problem(client.get(f"/v1/cameras/{cam}/snapshot.jpg", headers=read), 404)
        assert "no frame lately" in missing["detail"]
        jpeg = b"\xff\xd8\xff\xe0 a still"
        frame = {
            "camera_id": cam,
            "frame_seq": 42,
            "captured_at": DAY,
            "source_pts_us": None,
            "width": 1280,
            "height": 720,
            "encoding": "jpeg",
            "image": jpeg,
            "source": "file",
        }
        write_snapshots(r, [frame], 60, blurred=True)  # type: ignore[list-item]
        got = client.get(f"/v1/cameras/{cam}/snapshot.jpg", headers=read)
        assert got.status_code == 200 and got.content == jpeg
        assert got.headers["content-type"] == "image/jpeg" and got.headers["cache-control"] == "no-store"
        assert got.headers["x-frame-seq"] == "42" and got.headers["x-captured-at"] == DAY.isoformat()
        assert (got.headers["x-frame-width"], got.headers["x-frame-height"]) == ("1280", "720")
        is_problem(client.get(f"/v1/cameras/{cam}/snapshot.jpg"), 401)
        is_problem(client.get(f"/v1/cameras/other-{unique}/snapshot.jpg", headers=read), 404)
    finally:
        r.delete(snapshot_key(cam))
        r.close()
