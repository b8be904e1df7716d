"""The traffic engineer's path, end to end: every stage as its own process on fresh topics, a camera added through
the API, its still on the page, a counting line drawn on it with the mouse in headless Chromium and saved, and the
vehicles of the streamed clip counted on that line, the page's numbers equal to the API's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from deploy.stack.settings import StackSettings
from projections.api.keys import create_key
from tests.conftest import CLIP, MODEL
from tests.projections.api.camera_view import _click, _click_at, _el, _saved, _type
from tests.projections.api.conftest import free_port
from tests.projections.api.test_page import ARTIFACTS, _wait, chromium_driver, console_problems

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

_PER_CAMERA = ("frames", "det", "status", "veh", "stats", "inc", "mov", "snaps")


@dataclass(frozen=True)
class Pipeline:
    url: str
    ops: str  # an ops key's token (camera commands)
    logs: Path

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {self.ops}"}, timeout=10
        )

    def send(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.ops}"}
        return httpx.request(method, f"{self.url}{path}", json=body, headers=headers, timeout=10)


@pytest.fixture
def pipeline(bootstrap: str, pg_dsn: str, stack: StackSettings, tmp_path: Path) -> Iterator[Pipeline]:
    """Ingest (the registry's workers), inference, analytics, projector and API on fresh topics of their own."""
    run = uuid.uuid4().hex[:8]
    t = {k: f"test.page-e2e.{run}.{k}" for k in (*_PER_CAMERA, "cams", "dlq")}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"max.message.bytes": str(8 * 1024 * 1024)}
    new = [NewTopic(n, 1 if k in ("cams", "dlq") else 4, 1, config=config) for k, n in t.items()]
    for f in admin.create_topics(new).values():
        f.result(30)
    port = free_port()
    env = dict(
        os.environ,
        ITS_KAFKA_BOOTSTRAP=bootstrap,
        ITS_PG_DSN=pg_dsn,
        ITS_REDIS_URL=stack.redis_url,
        ITS_INGEST_CAMERAS_TOPIC=t["cams"],
        ITS_INGEST_FRAMES_TOPIC=t["frames"],
        ITS_INGEST_CAMERA_STATUS_TOPIC=t["status"],
        ITS_INGEST_SNAPSHOTS_TOPIC=t["snaps"],
        ITS_INGEST_DLQ_TOPIC=t["dlq"],
        ITS_INGEST_GROUP_ID=f"page-e2e-ingest-{run}",
        ITS_INGEST_METRICS_PORT="0",
        ITS_INFERENCE_FRAMES_TOPIC=t["frames"],
        ITS_INFERENCE_DETECTIONS_TOPIC=t["det"],
        ITS_INFERENCE_DLQ_TOPIC=t["dlq"],
        ITS_INFERENCE_GROUP_ID=f"page-e2e-inference-{run}",
        ITS_INFERENCE_TRANSACTIONAL_ID=f"page-e2e-inference-{run}",
        ITS_INFERENCE_MODEL_PATH=str(MODEL),
        ITS_INFERENCE_METRICS_PORT="0",
        ITS_ANALYTICS_APP_ID=f"page-e2e-analytics-{run}",
        ITS_ANALYTICS_DATA_DIR=str(tmp_path / "analytics"),
        ITS_ANALYTICS_METRICS_PORT="0",
        ITS_ANALYTICS_DETECTIONS_TOPIC=t["det"],
        ITS_ANALYTICS_CAMERA_STATUS_TOPIC=t["status"],
        ITS_ANALYTICS_CAMERAS_TOPIC=t["cams"],
        ITS_ANALYTICS_VEHICLE_EVENTS_TOPIC=t["veh"],
        ITS_ANALYTICS_TRAFFIC_STATS_TOPIC=t["stats"],
        ITS_ANALYTICS_INCIDENTS_TOPIC=t["inc"],
        ITS_ANALYTICS_MOVEMENTS_TOPIC=t["mov"],
        ITS_ANALYTICS_DLQ_TOPIC=t["dlq"],
        ITS_PROJECTOR_CAMERAS_TOPIC=t["cams"],
        ITS_PROJECTOR_CAMERA_STATUS_TOPIC=t["status"],
        ITS_PROJECTOR_DETECTIONS_TOPIC=t["det"],
        ITS_PROJECTOR_VEHICLE_EVENTS_TOPIC=t["veh"],
        ITS_PROJECTOR_TRAFFIC_STATS_TOPIC=t["stats"],
        ITS_PROJECTOR_INCIDENTS_TOPIC=t["inc"],
        ITS_PROJECTOR_MOVEMENTS_TOPIC=t["mov"],
        ITS_PROJECTOR_SNAPSHOTS_TOPIC=t["snaps"],
        ITS_PROJECTOR_DLQ_TOPIC=t["dlq"],
        ITS_PROJECTOR_GROUP_ID=f"page-e2e-projector-{run}",
        ITS_PROJECTOR_METRICS_PORT="0",
        ITS_API_CAMERAS_TOPIC=t["cams"],
        ITS_API_HOST="127.0.0.1",
        ITS_API_PORT=str(port),
        ITS_API_METRICS_PORT="0",
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for stage in ("inference", "analytics", "projector", "api", "ingest"):
        with (tmp_path / f"{stage}.log").open("wb") as log:
            procs[stage] = subprocess.Popen(
                [sys.executable, "-m", "itscam", stage], env=env, stdout=log, stderr=subprocess.STDOUT
            )
    key_id, token = create_key(pg_dsn, f"page-e2e-{run}", ["ops"], 60_000)
    pipe = Pipeline(f"http://127.0.0.1:{port}", token, tmp_path)
    try:
        _until(lambda: _answers(pipe), 90, "the API to answer", procs, tmp_path)
        yield pipe
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        app = env["ITS_ANALYTICS_APP_ID"]
        internal = [f"{app}-camera-state-changelog", f"{app}-__assignor-__leader"]
        existing = set(admin.list_topics(timeout=10).topics)
        for f in admin.delete_topics([n for n in [*t.values(), *internal] if n in existing]).values():
            f.result(30)
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


def _answers(pipe: Pipeline) -> bool:
    try:
        return httpx.get(f"{pipe.url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _until(cond: Any, timeout: float, what: str, procs: dict[str, subprocess.Popen[bytes]], logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                pytest.fail(f"{name} exited with {p.returncode}:\n{(logs / f'{name}.log').read_text()[-3000:]}")
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    pytest.fail(f"Waited {timeout:.0f} s for {what}; stage logs in {logs}")


def test_a_line_drawn_on_the_picture_counts_the_clip(pipeline: Pipeline, pg_dsn: str, unique: str) -> None:
    cam = f"overpass-{unique}"
    body = {"camera_id": cam, "name": "Highway overpass", "source_url": str(CLIP), "target_fps": 10.0, "loop": True}
    assert pipeline.send("POST", "/v1/cameras", body).status_code == 202
    driver = chromium_driver(1400, 1100)
    try:
        # the still arrives once the registry's ingest worker reads the camera
        wait = pipeline.logs
        deadline = time.monotonic() + 120
        while pipeline.get(f"/v1/cameras/{cam}/snapshot.jpg").status_code != 200:
            assert time.monotonic() < deadline, f"no still of {cam} within 120 s; logs in {wait}"
            time.sleep(1)
        driver.get(f"{pipeline.url}/ui#key={pipeline.ops}&camera={cam}")
        img = _el(driver, "snapshot-img")
        _wait(driver, "the camera's picture", lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        assert _el(driver, "no-lines-hint").is_displayed()
        assert _el(driver, "no-lines-hint").text.lower().startswith("draw a line to start counting")

        # draw the counting line across the carriageway, left to right: downward crossings are IN
        _click(driver, "tool-line")
        a = _click_at(driver, 0.02, 0.6)
        b = _click_at(driver, 0.98, 0.6)
        _type(driver, "line-name-input", "Southbound")
        assert _el(driver, "line-direction").get_attribute("data-direction") == "LEFT_TO_RIGHT"
        _click(driver, "editor-save")
        _saved(driver)
        lines = pipeline.get(f"/v1/cameras/{cam}").json()["config"]["lines"]
        assert len(lines) == 1 and lines[0]["name"] == "Southbound"
        line = lines[0]
        assert abs(line["x1"] - a[0]) < 0.01 and abs(line["y1"] - a[1]) < 0.01
        assert abs(line["x2"] - b[0]) < 0.01 and abs(line["y2"] - b[1]) < 0.01

        # the analytics stage picks the line up from the camera topic: vehicles are counted on it
        def counted() -> int:
            doc = pipeline.get(f"/v1/cameras/{cam}/counts", bucket="15m").json()
            return int(doc["totals"]["lines"].get(line["line_id"], {}).get("vehicles", 0))

        deadline = time.monotonic() + 240
        while counted() < 10:
            assert time.monotonic() < deadline, f"fewer than 10 vehicles counted on the line in 240 s; logs in {wait}"
            time.sleep(2)
        # stop the camera and let the pipeline drain, so the page and the API see the same, final numbers
        assert pipeline.send("PATCH", f"/v1/cameras/{cam}", {"enabled": False}).status_code == 202
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 8:
            n = counted()
            if n != last:
                last, stable_since = n, time.monotonic()
            time.sleep(1)

        driver.refresh()
        table = _el(driver, "line-counts")
        row_sel = f'tr[data-line-id="{line["line_id"]}"]'
        _wait(driver, "the line's counts", lambda d: table.find_elements("css selector", row_sel))
        row = table.find_element("css selector", row_sel)
        _wait(
            driver,
            "the final counts",
            lambda _: row.find_element("css selector", 'td[data-dir="total"]').text == str(last),
        )
        q = {k: table.get_attribute(f"data-{k}") for k in ("bucket", "from", "to")}
        want = pipeline.get(f"/v1/cameras/{cam}/counts", **q).json()["totals"]["lines"][line["line_id"]]
        got = {
            d: int(row.find_element("css selector", f'td[data-dir="{d}"]').text.replace(",", ""))
            for d in ("IN", "OUT", "total")
        }
        assert got == {"IN": want["IN"], "OUT": want["OUT"], "total": want["vehicles"]}
        chart = _el(driver, "counts-chart")  # the 15-minute chart stacks the same vehicles by class
        _wait(driver, "the chart", lambda _: chart.get_attribute("data-total") == str(want["vehicles"]))
        assert want["IN"] >= 10 and want["IN"] > 5 * want["OUT"], want  # the near carriageway drives towards the camera
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "page-e2e-line-counts.png"))
        assert console_problems(driver) == []
    finally:
        driver.quit()
        with psycopg.connect(pg_dsn) as conn:
            for table_name in (
                "vehicle_events",
                "vehicle_counts_minute",
                "traffic_stats",
                "traffic_stats_counts",
                "incidents",
                "camera_status",
                "frames",
                "detections",
                "frames_minute",
                "class_counts_minute",
                "cameras",
            ):
                conn.execute(f"DELETE FROM {table_name} WHERE camera_id = %s", (cam,))
