"""The camera view of /ui in headless Chromium: the API and projector it runs against, seeded cameras, and the
browser helpers the page tests share (test_page_editor, test_page_numbers, tests/test_page_e2e).

Stable hooks of the page (data-testid):

- camera-view (data-camera-id), view-close, view-errors, snapshot-img, no-picture, snapshot-status
  (data-frame-seq), stage, editor-canvas (data-tool), boxes-toggle
- tools: tool-select, tool-line, tool-zone, tool-calibrate, zone-close, tool-hint; item-list (buttons with
  data-line-id / data-zone-id)
- line: line-props, line-id, line-name-input, line-direction (data-direction LEFT_TO_RIGHT | RIGHT_TO_LEFT),
  line-flip, line-one-way, line-delete
- zone: zone-props, zone-id, zone-name-input, zone-kind (approach | occupancy | stop | privacy), zone-delete
- calibration: calib-props, calib-x-{0..3}, calib-y-{0..3} (ground metres), calib-img-{0..3},
  calib-preview (data-mpp-centre, data-mpp-near, data-mpp-far: metres per pixel), calib-message, calib-reset,
  calib-remove
- saving: editor-save, editor-revert, save-status (data-state dirty | saving | accepted | saved | invalid |
  forbidden | error), editor-problems (422 invalid_params)
- numbers: camera-data (data-loaded), line-counts (data-bucket/from/to of the query; rows tr[data-line-id], cells
  td[data-dir=IN|OUT|total]), no-lines-hint, counts-bucket (15m | 1h), counts-line, counts-chart,
  speeds (rows tr[data-event-id], cells td[data-col=time|line|direction|class|speed]), incidents
  (li[data-incident-id]), od-matrix (cells td[data-origin][data-destination]; data-bucket/from/to), movements-note,
  stats-summary
- exports: export-from, export-to, export-counts, export-movements, export-events, export-stats, export-status
  (data-url: the API request of the last download, data-file)
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import psycopg
import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from deploy.stack.settings import StackSettings
from projections import Projector, ProjectorSettings
from projections.api.keys import create_key
from streams.analytics.geometry import Homography
from tests.conftest import CLIP
from tests.projections.api.conftest import add_camera, free_port, running_api
from tests.projections.api.test_page import _wait, chromium_driver


# -- the API and a projector of its camera commands ----------------------------------------------------------------
@dataclass(frozen=True)
class Api:
    url: str
    read: str  # tokens
    ops: str


@pytest.fixture(scope="module")
def api(stack: StackSettings, pg_dsn: str, bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`itscam api` appending camera commands to a topic of this module, and a projector applying them to the
    cameras read model (so a saved line is read back as the page and the analytics stage see it)."""
    suffix = uuid.uuid4().hex[:10]
    topics = [f"test.page-cameras.{suffix}", f"test.page-dlq.{suffix}"]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics]).values():
        fut.result(30)
    # only the camera commands: every other topic setting empty
    kwargs: dict[str, Any] = {name: "" for name in ProjectorSettings.model_fields if name.endswith("_topic")}
    kwargs.update(
        cameras_topic=topics[0],
        dlq_topic=topics[1],
        kafka_bootstrap=bootstrap,
        pg_dsn=pg_dsn,
        redis_url=stack.redis_url,
        update_redis=False,
        group_id=f"test-page-{suffix}",
        metrics_port=0,
    )
    settings = ProjectorSettings(**kwargs)
    projector = Projector(settings)
    thread = threading.Thread(target=projector.run, daemon=True)
    thread.start()
    keys = [create_key(pg_dsn, f"page editor {suffix}", [scope], 1_000_000) for scope in ("read", "ops")]
    env = {
        **os.environ,
        "ITS_PG_DSN": pg_dsn,
        "ITS_REDIS_URL": stack.redis_url,
        "ITS_KAFKA_BOOTSTRAP": bootstrap,
        "ITS_API_HOST": "127.0.0.1",
        "ITS_API_PORT": str(free_port()),
        "ITS_API_METRICS_PORT": "0",
        "ITS_API_WORKERS": "1",
        "ITS_API_CAMERAS_TOPIC": topics[0],
        "ITS_API_QUERY_CACHE_S": "0",
    }
    try:
        with running_api(env, tmp_path_factory.mktemp("api") / "api.log") as url:
            yield Api(url, keys[0][1], keys[1][1])
    finally:
        projector.stop()
        thread.join(30)
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = ANY(%s)", ([k[0] for k in keys],))
        for fut in admin.delete_topics(topics, request_timeout=30).values():
            fut.result(30)


def _clip_jpeg() -> bytes:
    """A real frame of the highway clip, as ingest would send it."""
    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        pytest.fail(f"cannot read a frame of {CLIP}")
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buf)


# -- seeded cameras ------------------------------------------------------------------------------------------------
LINES = [
    {"line_id": "l1", "name": "Southbound", "x1": 0.2, "y1": 0.6, "x2": 0.55, "y2": 0.6,
     "in_direction": "LEFT_TO_RIGHT", "one_way": False},
    {"line_id": "l2", "name": "", "x1": 0.6, "y1": 0.5, "x2": 0.9, "y2": 0.5,
     "in_direction": "RIGHT_TO_LEFT", "one_way": False},
]  # fmt: skip
ZONES = [
    {"zone_id": f"z{n}", "name": name, "kind": "approach", "points": pts}
    for n, (name, pts) in enumerate(
        [
            ("North", [{"x": 0.4, "y": 0.2}, {"x": 0.6, "y": 0.2}, {"x": 0.5, "y": 0.35}]),
            ("South", [{"x": 0.3, "y": 0.8}, {"x": 0.6, "y": 0.8}, {"x": 0.45, "y": 0.95}]),
            ("East", [{"x": 0.8, "y": 0.4}, {"x": 0.95, "y": 0.4}, {"x": 0.9, "y": 0.6}]),
        ]
    )
]


@dataclass(frozen=True)
class Seeded:
    draw: str  # a camera without lines, with a picture: the editor's
    counted: str  # a camera with lines, approach zones, counts, movements, speeds and an incident
    incident: str


@pytest.fixture
def seeded(pg_dsn: str, stack: StackSettings) -> Iterator[Seeded]:
    tag = uuid.uuid4().hex[:8]
    draw, counted = f"page-ed-{tag}-draw", f"page-ed-{tag}-counted"
    now = datetime.now(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    # minutes of today before now (at least one: just after midnight the rows land in the first minute)
    minutes = [max(midnight, now - timedelta(minutes=m)).replace(second=0) for m in (2, 17, 40, 95, 200)]
    minutes = sorted(set(minutes))
    incident = f"inc-{tag}"
    r = redis.Redis.from_url(stack.redis_url)
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, draw, name="Overpass (draw here)", lines=[], zones=[])
        add_camera(conn, counted, name="Overpass (counted)", lines=LINES, zones=ZONES)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO vehicle_counts_minute (camera_id, minute, line_id, class_name, direction, vehicles,"
                " speed_sum, speed_n) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (counted, m, line, cls, d, n, 61.5 * n if cls != "bus" else 0.0, n if cls != "bus" else 0)
                    for i, m in enumerate(minutes)
                    for line, cls, d, n in [
                        ("l1", "car", "IN", 3 + i),
                        ("l1", "car", "OUT", 1 + i % 2),
                        ("l1", "truck", "IN", 1),
                        ("l2", "bus", "OUT", 2),
                        ("l2", "car", "IN", i + 1),
                    ]
                ],
            )
            cur.executemany(
                "INSERT INTO movement_counts_minute (camera_id, minute, origin_zone_id, destination_zone_id,"
                " class_name, origin_name, destination_name, vehicles) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (counted, m, o, d, cls, names[o], names[d], n + i)
                    for names in [{"z0": "North", "z1": "South", "z2": "East"}]
                    for i, m in enumerate(minutes)
                    for o, d, cls, n in [("z0", "z1", "car", 4), ("z0", "z2", "truck", 1), ("z1", "z0", "car", 2)]
                ],
            )
            cur.executemany(
                "INSERT INTO vehicle_events (event_id, camera_id, line_id, line_name, track_id, direction, motion,"
                " class_name, class_id, confidence, frame_seq, crossed_at, x, y, speed_kmh)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'DOWN', %s, 2, 0.9, %s, %s, 0.4, 0.6, %s)",
                [
                    (f"{counted}-e{i:02d}", counted, ("l1", "l2")[i % 2], ("Southbound", "")[i % 2], i,
                     ("IN", "OUT")[i % 3 == 0], ("car", "truck", "bus")[i % 3], 100 + i,
                     now - timedelta(seconds=30 * i), None if i % 4 == 0 else 40.0 + 1.7 * i)
                    for i in range(25)
                ],
            )  # fmt: skip
            cur.executemany(
                "INSERT INTO traffic_stats (camera_id, window_start, window_end, frames, vehicles, mean_speed_kmh,"
                " speed_samples, mean_occupancy, late_frames, closed_by) VALUES (%s, %s, %s, 600, %s, %s, %s, %s, 0,"
                " 'NEXT_FRAME')",
                [
                    (counted, w, w + timedelta(minutes=1), 10 + k, 55.0 + k, 8 + k, 0.25 + 0.01 * k)
                    for k in range(1, 6)
                    for w in [(now - timedelta(minutes=k)).replace(second=0)]
                ],
            )
        conn.execute(
            "INSERT INTO incidents (incident_id, camera_id, type, state, started_at, zone_id, detail)"
            " VALUES (%s, %s, 'STOPPED_VEHICLE', 'OPEN', %s, 'z1', 'a car stopped in South for 45 s')",
            (incident, counted, now - timedelta(minutes=3)),
        )
    jpeg = _clip_jpeg()
    for seq, cam in enumerate((draw, counted)):
        r.hset(
            f"its:snap:{cam}",
            mapping={"jpeg": jpeg, "captured_at": now.isoformat(), "frame_seq": 4000 + seq, "width": 1280,
                     "height": 720, "at_us": int(now.timestamp() * 1e6), "blurred": "1"},
        )  # fmt: skip
    try:
        yield Seeded(draw, counted, incident)
    finally:
        r.delete(*(f"its:snap:{cam}" for cam in (draw, counted)))
        r.close()
        cams = [draw, counted]
        with psycopg.connect(pg_dsn) as conn:
            for table in (
                "vehicle_counts_minute",
                "movement_counts_minute",
                "vehicle_events",
                "traffic_stats",
                "incidents",
                "cameras",
            ):
                conn.execute(f"DELETE FROM {table} WHERE camera_id = ANY(%s)", (cams,))


# -- browser helpers -----------------------------------------------------------------------------------------------
@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    d = tmp_path / "downloads"
    d.mkdir()
    return d


@pytest.fixture
def browser(downloads: Path) -> Iterator[Any]:
    driver = chromium_driver(1400, 1100, downloads)
    try:
        yield driver
    finally:
        driver.quit()


def _el(driver: Any, testid: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def _click(driver: Any, testid: str) -> None:
    el = _el(driver, testid)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.click()


def _canvas_box(driver: Any) -> tuple[float, float]:
    canvas = _el(driver, "editor-canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    return float(rect[0]), float(rect[1])


def _click_at(driver: Any, fx: float, fy: float) -> tuple[float, float]:
    """Click the picture at fraction (fx, fy) of its size with the mouse; the normalised point clicked."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = _el(driver, "editor-canvas")
    w, h = _canvas_box(driver)
    # Selenium's offsets are whole pixels from the element's centre
    dx, dy = round(fx * w - w / 2), round(fy * h - h / 2)
    ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
    return (w / 2 + dx) / w, (h / 2 + dy) / h


def _drag(driver: Any, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """Drag with the mouse on the picture from fraction `start` to fraction `end`; the normalised end point."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = _el(driver, "editor-canvas")
    w, h = _canvas_box(driver)
    (sx, sy), (ex, ey) = ((round(x * w - w / 2), round(y * h - h / 2)) for x, y in (start, end))
    chain = ActionChains(driver).move_to_element_with_offset(canvas, sx, sy).click_and_hold()
    chain.move_to_element_with_offset(canvas, (sx + ex) // 2, (sy + ey) // 2)
    chain.move_to_element_with_offset(canvas, ex, ey).release().perform()
    return (w / 2 + ex) / w, (h / 2 + ey) / h


def _type(driver: Any, testid: str, text: str) -> None:
    el = _el(driver, testid)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    el.clear()
    el.send_keys(text)


def _camera(api: Api, cam: str) -> dict[str, Any]:
    r = httpx.get(f"{api.url}/v1/cameras/{cam}", headers={"Authorization": f"Bearer {api.read}"}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _saved(driver: Any) -> None:
    status = _el(driver, "save-status")
    _wait(driver, "the save to apply", lambda _: status.get_attribute("data-state") == "saved", timeout=40)
    assert status.text == "saved — the analytics stage applies it to the next frames"


def _open(driver: Any, api: Api, token: str, cam: str) -> None:
    driver.get(f"{api.url}/ui#key={token}&camera={cam}")
    view = _el(driver, "camera-view")
    _wait(driver, "the camera view", lambda _: view.is_displayed() and view.get_attribute("data-camera-id") == cam)


def _picture_shown(driver: Any) -> None:
    img = _el(driver, "snapshot-img")
    _wait(
        driver,
        "the camera's still",
        lambda _: (
            img.is_displayed()
            and driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 1280
        ),
    )
    assert str(img.get_attribute("src")).startswith("blob:")


def _mpp(cal: dict[str, Any], p: tuple[float, float], w: int = 1280, h: int = 720) -> float:
    """Metres per pixel at normalised image point `p`, as the page defines it, with the analytics' homography."""
    hom = Homography([(q["x"], q["y"]) for q in cal["image_points"]], [(q["x"], q["y"]) for q in cal["ground_points"]])
    o, ex, ey = hom.to_ground(np.array([p, (p[0] + 1 / w, p[1]), (p[0], p[1] + 1 / h)]))
    return float((np.hypot(*(ex - o)) + np.hypot(*(ey - o))) / 2)


def _cells(driver: Any, css: str) -> list[Any]:
    return list(driver.find_elements("css selector", css))
