"""Camera commands: validated against the CameraConfig schema, appended to the (per-test) cameras topic of the
real Kafka, 202; 422/404/503 problems otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from starlette.testclient import TestClient

from eventbus.config import consumer_config
from projections.api import ApiSettings, create_app
from schemas.cameras import decode_camera
from schemas.credentials import source_url_for
from tests.projections.api.conftest import add_camera, is_problem, project_cameras

pytestmark = pytest.mark.integration


def _records(bootstrap: str, topic: str, n: int) -> list[tuple[str, Any]]:
    c = Consumer(consumer_config(bootstrap, f"g-{uuid.uuid4().hex[:8]}"))
    c.subscribe([topic])
    out: list[tuple[str, Any]] = []
    try:
        for _ in range(60):
            for m in c.consume(10, 0.5):
                if m.error() is None:
                    v = m.value()
                    out.append(((m.key() or b"").decode(), decode_camera(v) if v is not None else None))
            if len(out) >= n:
                break
    finally:
        c.close()
    return out


def test_post_put_patch_delete_append_to_the_camera_topic(
    client: TestClient, admin: dict[str, str], api_settings: ApiSettings, pg_dsn: str, unique: str
) -> None:
    cam = f"cam-{unique}"
    r = client.post(
        "/v1/cameras",
        json={"camera_id": cam, "name": "North", "source_url": "rtsp://u:p@cam/1", "target_fps": 5,
              "lines": [{"line_id": "l1", "x1": 0.1, "y1": 0.5, "x2": 0.9, "y2": 0.5}]},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    accepted = r.json()["accepted"]
    assert accepted["camera_id"] == cam and accepted["source_url"] == "rtsp://***@cam/1"
    assert accepted["lines"][0]["in_direction"] == "LEFT_TO_RIGHT" and accepted["protocol"] == "AUTO"
    assert client.put(f"/v1/cameras/{cam}", json={"source_url": "file.mp4"}, headers=admin).status_code == 202
    # PATCH merges with the configuration PostgreSQL holds (written here as the projector would)
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam, name="Stored", jpeg_quality=70)
    r = client.patch(f"/v1/cameras/{cam}", json={"enabled": False}, headers=admin)
    assert r.status_code == 202, r.text
    patched = r.json()["accepted"]
    assert (patched["name"], patched["jpeg_quality"], patched["enabled"]) == ("Stored", 70, False)
    assert client.delete(f"/v1/cameras/{cam}", headers=admin).json() == {
        "accepted": {"camera_id": cam, "deleted": True, "purged": False}
    }
    recs = _records(api_settings.kafka_bootstrap, api_settings.cameras_topic, 4)
    assert [k for k, _ in recs] == [cam] * 4
    first, put, patch, tomb = (v for _, v in recs)
    # credentials only sealed for ingest (schemas/credentials.py), never in plaintext on the topic
    assert first["source_url"] == "rtsp://***@cam/1" and first["target_fps"] == 5.0
    assert source_url_for(first) == "rtsp://u:p@cam/1"
    assert put["source_url"] == "file.mp4" and put["name"] == ""
    assert patch["name"] == "Stored" and patch["enabled"] is False
    # a legacy read-model row with plaintext credentials: the PATCH seals them
    assert patch["source_url"] == "rtsp://***@10.0.0.1/stream"
    assert source_url_for(patch) == "rtsp://user:secret@10.0.0.1/stream"
    assert tomb is None
    is_problem(client.post("/v1/cameras", json={"camera_id": cam, "source_url": "x"}, headers=admin), 409)


_C = {"camera_id": "c", "source_url": "x"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source_url": "x"}, "camera_id"),
        ({"camera_id": "c"}, "source_url"),
        ({"camera_id": "c", "source_url": "x", "target_fps": "fast"}, "target_fps"),
        ({"camera_id": "c", "source_url": "x", "target_fps": 0}, "target_fps"),
        ({"camera_id": "c", "source_url": "x", "jpeg_quality": True}, "jpeg_quality"),
        ({"camera_id": "c", "source_url": "x", "jpeg_quality": 101}, "jpeg_quality"),
        ({"camera_id": "c", "source_url": "x", "protocol": "SMOKE_SIGNALS"}, "protocol"),
        ({"camera_id": "c", "source_url": "x", "colour": "red"}, "colour"),
        ({**_C, "lines": [{"line_id": "l", "x1": 0, "y1": 0, "x2": 1}]}, "lines[0].y2"),
        ({**_C, "lines": [{"line_id": "l", "x1": 0, "y1": 0, "x2": 2, "y2": 1}]}, "lines"),
        ({**_C, "zones": [{"zone_id": "z", "points": [{"x": 0, "y": 0}]}]}, "zones"),
        ({**_C, "calibration": {"image_points": [], "ground_points": []}}, "calibration"),
        ({**_C, "calibration": {"image_points": [{"x": 0, "y": 0}] * 4}}, "calibration.ground_points"),
        ({"camera_id": "bad id", "source_url": "x"}, "camera_id"),
        ({"camera_id": "c", "source_url": "x\u0000"}, "source_url"),
        ({"camera_id": "c", "source_url": "   "}, "source_url"),
        ({"camera_id": "c", "source_url": "x", "updated_at": 1}, "updated_at"),
        ([1, 2], "body"),
    ],
)  # fmt: skip
def test_an_invalid_camera_is_a_422_naming_the_field(
    client: TestClient, admin: dict[str, str], body: Any, field: str
) -> None:
    problem = is_problem(client.post("/v1/cameras", json=body, headers=admin), 422)
    assert problem["invalid_params"][0]["name"] == field


def _zone(*pts: tuple[float, float]) -> dict[str, Any]:
    return {"zone_id": "z", "name": "North", "kind": "approach", "points": [{"x": x, "y": y} for x, y in pts]}


_DRAWN = [
    # what the page's editor could send wrong: each is refused naming the field, and nothing reaches the topic
    ({"lines": [{"line_id": "l", "x1": 0.2, "y1": 0.5, "x2": 0.2, "y2": 0.5}]}, "lines"),
    ({"zones": [_zone((0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9))]}, "zones[0].points"),  # a bow tie
    ({"zones": [_zone((0.1, 0.1), (0.5, 0.5), (0.9, 0.9))]}, "zones[0].points"),  # no area
    ({"zones": [_zone((0.1, 0.1), (1.2, 0.1), (0.5, 0.9))]}, "zones"),  # outside 0..1
    ({"zones": [_zone((0.1, 0.1), (0.9, 0.1))]}, "zones"),  # 2 points
    ({"zones": [_zone((0, 0), (1, 0), (1, 1)), _zone((0, 0), (1, 0), (0, 1))]}, "zones"),  # one id twice
    (
        {
            "calibration": {
                "image_points": [
                    {"x": 0.1, "y": 0.1},
                    {"x": 0.5, "y": 0.5},
                    {"x": 0.9, "y": 0.9},
                    {"x": 0.1, "y": 0.9},
                ],
                "ground_points": [{"x": 0, "y": 0}, {"x": 7, "y": 0}, {"x": 7, "y": 30}, {"x": 0, "y": 30}],
            }
        },
        "calibration.image_points",
    ),
]


@pytest.mark.parametrize(("patch", "field"), _DRAWN)
def test_bad_drawings_are_422s_and_nothing_is_written(
    client: TestClient,
    admin: dict[str, str],
    api_settings: ApiSettings,
    pg_dsn: str,
    unique: str,
    patch: dict[str, Any],
    field: str,
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    for r in (
        client.patch(f"/v1/cameras/{cam}", json=patch, headers=admin),
        client.post(
            "/v1/cameras", json={"camera_id": f"{cam}-new", "source_url": "rtsp://h/s", **patch}, headers=admin
        ),
    ):
        problem = is_problem(r, 422)
        assert problem["invalid_params"][0]["name"] == field, problem
    c = Consumer(consumer_config(api_settings.kafka_bootstrap, f"test-{unique}"))
    try:
        parts = c.list_topics(api_settings.cameras_topic, timeout=10).topics[api_settings.cameras_topic].partitions
        for p in parts:
            assert c.get_watermark_offsets(TopicPartition(api_settings.cameras_topic, p), timeout=10) == (0, 0)
    finally:
        c.close()


def test_malformed_commands_are_problems(client: TestClient, admin: dict[str, str], unique: str) -> None:
    is_problem(client.post("/v1/cameras", content=b"{not json", headers=admin), 400)
    is_problem(client.post("/v1/cameras", content=b'{"target_fps": NaN}', headers=admin), 400)
    is_problem(client.post("/v1/cameras", content=b"x", headers={**admin, "content-type": "text/plain"}), 415)
    body = is_problem(client.put("/v1/cameras/a", json={"camera_id": "b", "source_url": "x"}, headers=admin), 422)
    assert body["invalid_params"][0]["name"] == "camera_id"
    is_problem(client.patch(f"/v1/cameras/nope-{unique}", json={"enabled": False}, headers=admin), 404)
    is_problem(client.delete(f"/v1/cameras/nope-{unique}", headers=admin), 404)


def test_kafka_down_is_a_503(api_settings: ApiSettings, admin: dict[str, str], unique: str) -> None:
    s = api_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1", "command_timeout_s": 1.0})
    with TestClient(create_app(s)) as c:
        r = c.post("/v1/cameras", json={"camera_id": f"cam-{unique}", "source_url": "x"}, headers=admin)
    body = is_problem(r, 503)
    assert "Kafka" in body["detail"] and r.headers["retry-after"]


def test_a_posted_camera_is_listed_once_the_projector_applied_it(
    client: TestClient,
    admin: dict[str, str],
    api_settings: ApiSettings,
    pg_dsn: str,
    make_topic: Callable[..., str],
    unique: str,
) -> None:
    cam = f"cam-{unique}"
    body = {"camera_id": cam, "name": "Gate 4", "source_url": "rtsp://op:pw@10.1.1.4/main", "target_fps": 8}
    assert client.post("/v1/cameras", json=body, headers=admin).status_code == 202
    is_problem(client.get(f"/v1/cameras/{cam}", headers=admin), 404)  # not applied yet: the API only appends
    project_cameras(api_settings, pg_dsn, make_topic, unique)
    doc = client.get(f"/v1/cameras/{cam}", headers=admin).json()
    assert (doc["name"], doc["target_fps"], doc["source_url"]) == ("Gate 4", 8.0, "rtsp://***@10.1.1.4/main")
    assert doc["config"]["protocol"] == "AUTO" and doc["config"]["source_url"] == "rtsp://***@10.1.1.4/main"
    listed = client.get("/v1/cameras", params={"limit": 1000}, headers=admin).json()["items"]
    assert cam in [c["camera_id"] for c in listed]
    assert client.patch(f"/v1/cameras/{cam}", json={"enabled": False}, headers=admin).status_code == 202
    assert client.delete(f"/v1/cameras/{cam}", headers=admin).status_code == 202
    project_cameras(api_settings, pg_dsn, make_topic, unique)
    is_problem(client.get(f"/v1/cameras/{cam}", headers=admin), 404)
