"""Fixtures of the API tests: settings on per-test topics, API keys, rows written straight into the real
PostgreSQL/Redis, and `itscam api` as a real uvicorn process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings
from projections.api import ApiSettings, create_app
from projections.api.keys import create_key

DAY = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def api_settings(stack: StackSettings, pg_dsn: str, bootstrap: str, make_topic: Callable[..., str]) -> ApiSettings:
    return ApiSettings(
        pg_dsn=pg_dsn,
        redis_url=stack.redis_url,
        kafka_bootstrap=bootstrap,
        metrics_port=0,
        cameras_topic=make_topic("cameras"),
        events_channel=f"its:events:test:{os.urandom(4).hex()}",
        command_timeout_s=5.0,
    )


@pytest.fixture
def make_key(pg_dsn: str) -> Iterator[Callable[..., str]]:
    """Factory: a fresh API key's token (`scopes` comma-separated); the keys are deleted after the test."""
    made: list[str] = []

    def make(scopes: str = "admin", rate: int = 1_000_000, name: str = "test") -> str:
        key_id, token = create_key(pg_dsn, name, scopes.split(","), rate)
        made.append(key_id)
        return token

    yield make
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM api_keys WHERE key_id = ANY(%s)", (made,))


@pytest.fixture
def admin(make_key: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_key('admin')}"}


@pytest.fixture
def client(api_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as c:
        yield c


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"] and body["title"] and body["instance"] == r.url.path
    return body


# -- rows written straight into the read models ----------------------------------------------------------------------
def add_camera(conn: psycopg.Connection[Any], cam: str, **config: Any) -> None:
    cfg = {
        "camera_id": cam,
        "name": f"Camera {cam}",
        "source_url": "rtsp://user:secret@10.0.0.1/stream",
        "protocol": "AUTO",
        "target_fps": 10.0,
        "max_width": 1280,
        "max_height": 720,
        "jpeg_quality": 90,
        "enabled": True,
        "decode": "AUTO",
        "loop": False,
        "lines": [{"line_id": "l1", "name": "", "x1": 0.1, "y1": 0.5, "x2": 0.9, "y2": 0.5}],
        "zones": [],
        "calibration": None,
        "updated_at": "2026-01-05T00:00:00+00:00",
        **config,
    }
    conn.execute(
        "INSERT INTO cameras (camera_id, name, source_url, protocol, target_fps, enabled, config, config_updated_at,"
        " frames, detections) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, 0)",
        (cam, cfg["name"], cfg["source_url"], cfg["protocol"], cfg["target_fps"], cfg["enabled"], json.dumps(cfg), DAY),
    )


def add_status(conn: psycopg.Connection[Any], cam: str, status: str = "ONLINE") -> dict[str, Any]:
    row = {
        "camera_id": cam,
        "status": status,
        "previous": None,
        "reason": "frames flowing",
        "error": None,
        "changed_at": DAY,
        "last_frame_at": DAY,
        "measured_fps": 9.5,
        "target_fps": 10.0,
        "width": 1280,
        "height": 720,
        "reconnects": 0,
        "frames_produced": 100,
        "frames_dropped": 1,
        "worker": "w1",
        "source": "rtsp://***@10.0.0.1/stream",
    }
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO camera_status ({cols}) VALUES ({', '.join(['%s'] * len(row))})", list(row.values()))
    return row


LINES = ("l1", "l2")
CLASSES = ("car", "truck", "bus")


def count_rows(cam: str, minutes: int, start: datetime = DAY) -> list[tuple[Any, ...]]:
    """vehicle_counts_minute rows: per minute, line, class and direction a count that varies with all four."""
    rows = []
    for i in range(minutes):
        for li, line in enumerate(LINES):
            for ci, cls in enumerate(CLASSES):
                for di, direction in enumerate(("IN", "OUT")):
                    n = (i + li + ci + di) % 4
                    if n:
                        rows.append((cam, start + timedelta(minutes=i), line, cls, direction, n, 50.0 * n, n))
    return rows


def add_counts(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY vehicle_counts_minute (camera_id, minute, line_id, class_name, direction, vehicles, speed_sum,"
            " speed_n) FROM STDIN"
        ) as copy,
    ):
        for r in rows:
            copy.write_row(r)


def add_vehicle_events(conn: psycopg.Connection[Any], cam: str, n: int, same_time_every: int = 3) -> list[str]:
    """n events; every `same_time_every` share one crossed_at, so the keyset's tie-break on event_id is used."""
    ids = []
    for i in range(n):
        eid = f"{cam}-e{i:04d}"
        at = DAY + timedelta(seconds=i // same_time_every)
        conn.execute(
            "INSERT INTO vehicle_events (event_id, camera_id, line_id, line_name, track_id, direction, motion,"
            " class_name, class_id, confidence, frame_seq, crossed_at, x, y, speed_kmh)"
            " VALUES (%s, %s, %s, '', %s, %s, 'DOWN', %s, 2, 0.9, %s, %s, 0.5, 0.5, %s)",
            (eid, cam, LINES[i % 2], i, ("IN", "OUT")[i % 2], CLASSES[i % 3], i, at, None if i % 5 else 42.0),
        )
        ids.append(eid)
    return ids


def set_live(r: redis.Redis, cam: str, at: datetime, day: str) -> dict[str, Any]:
    frame = {
        "camera_id": cam,
        "frame_seq": 7,
        "captured_at": at.isoformat(),
        "produced_at": at.isoformat(),
        "width": 1280,
        "height": 720,
        "model": {"name": "yolo11n"},
        "detections": [
            {"class_id": 2, "class_name": "car", "confidence": 0.9, "x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0}
        ],
    }
    us = int(at.timestamp() * 1e6)
    r.hset(f"its:live:{cam}", mapping={"ts": us, "json": json.dumps(frame)})
    r.hset(
        f"its:status:{cam}",
        mapping={"ts": us, "json": json.dumps({"camera_id": cam, "status": "ONLINE", "changed_at": at.isoformat()})},
    )
    r.hset(
        f"its:counts:{cam}",
        mapping={
            "off": 41,
            "day": day,
            "vehicles": 5,
            "IN": 3,
            "OUT": 2,
            "line:l1:IN": 3,
            "line:l1:OUT": 1,
            "line:l2:OUT": 1,
            "class:car": 4,
            "class:bus": 1,
        },
    )
    return frame


# -- a real server -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def api_env(s: ApiSettings, port: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ITS_PG_DSN": s.pg_dsn.get_secret_value(),
        "ITS_REDIS_URL": s.redis_url.get_secret_value(),
        "ITS_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "ITS_API_HOST": "127.0.0.1",
        "ITS_API_PORT": str(port),
        "ITS_API_METRICS_PORT": "0",
        "ITS_API_WORKERS": "1",
        "ITS_API_CAMERAS_TOPIC": s.cameras_topic,
        "ITS_API_EVENTS_CHANNEL": s.events_channel,
        "ITS_API_COMMAND_TIMEOUT_S": str(s.command_timeout_s),
        "ITS_API_SSE_HEARTBEAT_S": str(s.sse_heartbeat_s),
        **extra,
    }


@contextlib.contextmanager
def running_api(env: dict[str, str], log: Path) -> Iterator[str]:
    """`itscam api` as a process with `env` (ITS_API_PORT among it), logging to `log`; yields its base URL once it
    answers /health, and stops it afterwards."""
    itscam = Path(sys.executable).with_name("itscam")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(itscam), "api"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['ITS_API_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`itscam api` exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`itscam api` did not answer /health within 60 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def server(api_settings: ApiSettings, tmp_path: Path) -> Iterator[str]:
    """`itscam api` (uvicorn, one worker) on a free loopback port; yields its base URL."""
    with running_api(api_env(api_settings, free_port()), tmp_path / "api.log") as url:
        yield url


def project_cameras(api_settings: ApiSettings, pg_dsn: str, make_topic: Callable[..., str], tag: str) -> None:
    """The real projector over the API's cameras topic (the camera commands) until it idles."""
    import threading
    import uuid

    from projections import Projector, ProjectorSettings

    s = ProjectorSettings(
        kafka_bootstrap=api_settings.kafka_bootstrap,
        pg_dsn=pg_dsn,
        redis_url=api_settings.redis_url,
        cameras_topic=api_settings.cameras_topic,
        detections_topic=make_topic("dets"),
        dlq_topic=make_topic("dlq"),
        camera_status_topic="",
        vehicle_events_topic="",
        traffic_stats_topic="",
        incidents_topic="",
        movements_topic="",
        snapshots_topic="",
        group_id=f"test-proj-{tag}-{uuid.uuid4().hex[:6]}",
        metrics_port=0,
    )
    t = threading.Thread(target=Projector(s).run, kwargs={"idle_exit_s": 3.0})
    t.start()
    t.join(90)
    assert not t.is_alive()
