"""The analyst page (/ui) in headless Chromium against the real API process, PostgreSQL and Redis of the local stack.

The page must show what the API says: the test seeds cameras, their live Redis keys and per-minute counts, starts
`itscam api`, opens /ui#key=... and compares every number on the page with the API's JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from deploy.stack.settings import StackSettings, repo_root
from projections.api.auth import hash_secret, new_token
from tests.projections.api.conftest import free_port, running_api

pytestmark = pytest.mark.integration

ARTIFACTS = Path(os.environ.get("ITS_TEST_ARTIFACTS") or repo_root() / ".stack" / "artifacts")
EMPTY = "\N{EN DASH}"  # what the page shows before a number arrives


# -- the API process -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api_url(
    stack: StackSettings, pg_dsn: str, bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        **os.environ,
        "ITS_PG_DSN": pg_dsn,
        "ITS_REDIS_URL": stack.redis_url,
        "ITS_KAFKA_BOOTSTRAP": bootstrap,
        "ITS_API_HOST": "127.0.0.1",
        "ITS_API_PORT": str(free_port()),
        "ITS_API_METRICS_PORT": "0",
    }
    with running_api(env, tmp_path_factory.mktemp("api") / "api.log") as url:
        yield url


# -- seeded read models ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Seeded:
    prefix: str  # of the seeded cameras' ids
    cameras: list[str]
    token: str


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _live_doc(cam: str, seq: int, at: datetime, classes: list[str]) -> dict[str, Any]:
    return {
        "camera_id": cam,
        "frame_seq": seq,
        "captured_at": at.isoformat(),
        "produced_at": (at + timedelta(milliseconds=40)).isoformat(),
        "width": 1280,
        "height": 720,
        "model": {"name": "yolo11n", "version": "ab" * 6, "sha256": "ab" * 32, "backend": "onnxruntime"},
        "detections": [
            {
                "class_id": 2 if c == "car" else 7,
                "class_name": c,
                "confidence": 0.9 - 0.1 * i,
                "x1": 80.0 + 260 * i,
                "y1": 300.0 - 40 * i,
                "x2": 300.0 + 260 * i,
                "y2": 460.0 - 20 * i,
            }
            for i, c in enumerate(classes)
        ],
    }


def _status_row(cam: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "camera_id": cam,
        "status": status,
        "previous": "OFFLINE",
        "reason": "frames flowing" if status == "ONLINE" else "fps below target",
        "error": None,
        "changed_at": at.isoformat(),
        "last_frame_at": at.isoformat(),
        "measured_fps": 9.5,
        "target_fps": 10.0,
        "width": 1280,
        "height": 720,
        "reconnects": 0,
        "frames_produced": 1000,
        "frames_dropped": 3,
        "worker": "test",
        "source": "file",
    }


@pytest.fixture
def make_key(pg_dsn: str, unique: str) -> Iterator[Callable[[int], str]]:
    """Factory: an API key (read scope, `rate_per_minute`) in api_keys; its token. Deleted after the test."""
    made: list[str] = []

    def make(rate_per_minute: int) -> str:
        key_id, secret, token = new_token()
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, rate_per_minute)"
                " VALUES (%s, %s, %s, %s, %s)",
                (key_id, f"page test {unique}", hash_secret(secret), ["read"], rate_per_minute),
            )
        made.append(key_id)
        return token

    yield make
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("DELETE FROM api_keys WHERE key_id = ANY(%s)", (made,))


@pytest.fixture
def seeded(pg_dsn: str, stack: StackSettings, unique: str, make_key: Callable[[int], str]) -> Iterator[Seeded]:
    now = datetime.now(UTC).replace(microsecond=0)
    day = now.date().isoformat()
    prefix = f"page-{unique}-"
    cams = [prefix + c for c in "abc"]
    token = make_key(100_000)
    r = redis.Redis.from_url(stack.redis_url)
    statuses = ["ONLINE", "DEGRADED", "ONLINE"]
    with psycopg.connect(pg_dsn) as conn:
        for n, cam in enumerate(cams):
            conn.execute(
                "INSERT INTO cameras (camera_id, name, source_url, protocol, target_fps, enabled, first_seen_at,"
                " last_seen_at, last_frame_seq, frames, detections) VALUES (%s, %s, %s, 'file', 10, true, %s, %s,"
                " %s, %s, %s)",
                (
                    cam,
                    f"Overpass {n + 1}",
                    f"file:///clips/{cam}.mp4",
                    now - timedelta(hours=3),
                    now,
                    500 + n,
                    501,
                    900,
                ),
            )
            st = _status_row(cam, statuses[n], now - timedelta(minutes=5))
            conn.execute(
                "INSERT INTO camera_status (camera_id, status, previous, reason, error, changed_at, last_frame_at,"
                " measured_fps, target_fps, width, height, reconnects, frames_produced, frames_dropped, worker,"
                " source) VALUES (%(camera_id)s, %(status)s, %(previous)s, %(reason)s, %(error)s, %(changed_at)s,"
                " %(last_frame_at)s, %(measured_fps)s, %(target_fps)s, %(width)s, %(height)s, %(reconnects)s,"
                " %(frames_produced)s, %(frames_dropped)s, %(worker)s, %(source)s)",
                st,
            )
            # Per-minute counts over the last hours: a different shape per camera so a mix-up shows.
            rows = []
            for k in range(1, 13 + 4 * n):
                minute = (now - timedelta(minutes=17 * k)).replace(second=0)
                for cls, direction, v in [("car", "IN", k % 4 + n), ("car", "OUT", k % 3), ("truck", "IN", k % 2)]:
                    if v:
                        rows.append((cam, minute, "l1", cls, direction, v, 50.0 * v, v))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO vehicle_counts_minute (camera_id, minute, line_id, class_name, direction, vehicles,"
                    " speed_sum, speed_n) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            frame_at = now - timedelta(seconds=2)
            classes = [["car", "truck", "car"], ["car"], ["truck", "car"]][n]
            r.hset(
                f"its:live:{cam}",
                mapping={"ts": _us(frame_at), "json": json.dumps(_live_doc(cam, 500 + n, frame_at, classes))},
            )
            r.hset(f"its:status:{cam}", mapping={"ts": _us(now), "json": json.dumps(st)})
            ins, outs = 40 + 7 * n, 31 + 5 * n
            r.hset(
                f"its:counts:{cam}",
                mapping={
                    "off": 1000 + n,
                    "day": day,
                    "vehicles": ins + outs,
                    "IN": ins,
                    "OUT": outs,
                    "line:l1:IN": ins,
                    "line:l1:OUT": outs,
                    "class:car": ins + outs - 9,
                    "class:truck": 9,
                },
            )
    try:
        yield Seeded(prefix, cams, token)
    finally:
        r.delete(*(f"its:{kind}:{cam}" for cam in cams for kind in ("live", "status", "counts")))
        with psycopg.connect(pg_dsn) as conn:
            for table in ("vehicle_counts_minute", "camera_status", "cameras"):
                conn.execute(f"DELETE FROM {table} WHERE camera_id = ANY(%s)", (cams,))


# -- the browser -----------------------------------------------------------------------------------------------------
def chromium_driver(width: int = 1400, height: int = 1000, downloads: Path | None = None) -> Any:
    """Headless Chromium with its console log kept (to check for CSP refusals) and, with `downloads`, files saved
    there without asking."""
    from selenium import webdriver

    chromium = os.environ.get("ITS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = os.environ.get("ITS_TEST_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    for what, path in (("chromium", chromium), ("chromedriver", driver_path)):
        if not Path(path).exists():
            pytest.fail(
                f"The page test needs {what} ({path} is missing): `apt-get install chromium chromium-driver`, "
                "or set ITS_TEST_CHROMIUM / ITS_TEST_CHROMEDRIVER."
            )
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}", "--lang=en-US"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        opts.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = chromium_driver()
    try:
        yield driver
    finally:
        driver.quit()


def console_problems(driver: Any) -> list[str]:
    """The browser console's errors since the last call: Content-Security-Policy refusals and script errors (a
    refused request is the API's answer, which the page shows, not a page error)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if "Content Security Policy" in e["message"]
        or "Refused to" in e["message"]
        or (e["level"] == "SEVERE" and e.get("source") != "network")
    ]


def _text(driver: Any, testid: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text)


def _num(text: str) -> int:
    return int(text.replace(",", ""))


def _wait(driver: Any, what: str, cond: Any, timeout: float = 30) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.2).until(cond)
    except TimeoutException:
        banner = driver.execute_script("const b = document.getElementById('banner'); return b && b.innerText;")
        shot = ARTIFACTS / "test_page_timeout.png"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        logs = driver.get_log("browser") if hasattr(driver, "get_log") else []
        pytest.fail(f"Timed out waiting for {what}; banner: {banner!r}; screenshot {shot}; console: {logs}")


# Pixels of the canvas that are neither its background nor grey: box outlines / bars (the labels are grey text).
_COLOURED_PIXELS = """
const c = arguments[0], ctx = c.getContext('2d');
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) {
  const mx = Math.max(d[i], d[i + 1], d[i + 2]), mn = Math.min(d[i], d[i + 1], d[i + 2]);
  if (mx - mn > 60) n++;
}
return n;
"""


def _coloured_pixels(driver: Any, testid: str) -> int:
    """Coloured pixels of the canvas `testid` names, or of the canvas inside it (a uPlot chart's)."""
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')
    canvas = el if el.tag_name == "canvas" else el.find_element(By.CSS_SELECTOR, "canvas")
    return int(driver.execute_script(_COLOURED_PIXELS, canvas))


def _charted(driver: Any, cam: str, bucket: str) -> dict[str, str]:
    """Wait until the chart shows `cam` in `bucket`s; the query parameters the page used."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, '[data-testid="chart-totals"]')
    _wait(
        driver,
        f"the {bucket} chart of {cam}",
        lambda _: box.get_attribute("data-camera") == cam and box.get_attribute("data-bucket") == bucket,
    )
    return {k: str(box.get_attribute(f"data-{k}")) for k in ("bucket", "from", "to")}


# -- tests -----------------------------------------------------------------------------------------------------------
def test_page_shows_what_the_api_says(
    api_url: str, seeded: Seeded, browser: Any, request: pytest.FixtureRequest
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {seeded.token}"}, timeout=10)
    request.addfinalizer(http.close)
    live = {}
    for cam in seeded.cameras:
        r = http.get(f"/v1/cameras/{cam}/live")
        assert r.status_code == 200, r.text
        live[cam] = r.json()
    names = {c["camera_id"]: c["name"] for c in http.get("/v1/cameras", params={"limit": 1000}).json()["items"]}

    page = http.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in page.headers["content-security-policy"]  # the camera's still
    for asset in ("/ui/static/page.js", "/ui/static/page.css", "/ui/static/vendor/uplot/uPlot.esm.js"):
        r = httpx.get(api_url + asset)  # no key needed
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache", asset
    assert httpx.get(api_url + "/ui/").headers["location"].endswith("/ui")

    # Other tests' cameras share the database: the page's filter (from the fragment) shows only ours.
    browser.get(f"{api_url}/ui#key={seeded.token}&filter={seeded.prefix}")

    def shown(_: Any) -> bool:
        for cam in seeded.cameras:
            found = browser.find_elements(By.CSS_SELECTOR, f'[data-testid="vehicles-{cam}"]')
            if not found or found[0].text in ("", EMPTY):
                return False
        return True

    _wait(browser, "the seeded cameras' tiles", shown)
    assert "key=" not in browser.current_url, "the key must leave the address bar"
    shown_tiles = [t for t in browser.find_elements(By.CSS_SELECTOR, ".tile") if t.is_displayed()]
    assert sorted(str(t.get_attribute("data-camera-id")) for t in shown_tiles) == seeded.cameras
    assert browser.find_element(By.ID, "banner").is_displayed() is False

    for cam in seeded.cameras:
        doc = live[cam]
        today = doc["counts_today"]
        assert _num(_text(browser, f"vehicles-{cam}")) == today["vehicles"]
        assert _num(_text(browser, f"in-{cam}")) == today["IN"]
        assert _num(_text(browser, f"out-{cam}")) == today["OUT"]
        assert _text(browser, f"status-{cam}") == doc["status"]["status"]
        tile = browser.find_element(By.CSS_SELECTOR, f'[data-testid="tile-{cam}"]')
        assert names[cam] in tile.text
        info = browser.find_element(By.CSS_SELECTOR, f'[data-testid="frame-info-{cam}"]')
        assert info.get_attribute("data-frame-seq") == str(doc["frame"]["frame_seq"])
        assert info.get_attribute("data-detections") == str(len(doc["frame"]["detections"]))
        assert _coloured_pixels(browser, f"frame-{cam}") > 200, f"no boxes drawn for {cam}"

    # Open the second camera (its chart and its detail view) by clicking its tile, then switch the bucket.
    cam = seeded.cameras[1]
    browser.find_element(By.CSS_SELECTOR, f'[data-testid="tile-{cam}"]').click()
    view = browser.find_element(By.CSS_SELECTOR, '[data-testid="camera-view"]')
    _wait(browser, "the camera view", lambda _: view.is_displayed() and view.get_attribute("data-camera-id") == cam)
    assert "camera=" in browser.current_url  # a link to this view
    for bucket in ("15m", "1h"):
        if bucket != "15m":
            Select(browser.find_element(By.CSS_SELECTOR, '[data-testid="chart-bucket"]')).select_by_value(bucket)
        params = _charted(browser, cam, bucket)
        doc = http.get(f"/v1/cameras/{cam}/counts", params=params).json()
        totals = doc["totals"]
        assert totals["vehicles"] > 0 and len(doc["buckets"]) > 1
        assert _num(_text(browser, "chart-vehicles")) == totals["vehicles"]
        assert _num(_text(browser, "chart-in")) == totals["IN"]
        assert _num(_text(browser, "chart-out")) == totals["OUT"]
        for cls, n in totals["by_class"].items():
            assert f"{cls} {n:,}" in _text(browser, "chart-classes")
        assert _coloured_pixels(browser, "chart-canvas") > 500, "no bars drawn"

    assert console_problems(browser) == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "test_page_ui.png"
    browser.execute_script("document.getElementById('chart-panel').scrollIntoView()")
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_the_stream_moves_the_boxes(api_url: str, seeded: Seeded, browser: Any, stack: StackSettings) -> None:
    """A detections event on the projector's channel reaches the tile through /v1/stream: this frame is in no Redis
    hash, so polling cannot be what shows it."""
    from selenium.webdriver.common.by import By

    cam = seeded.cameras[0]
    browser.get(f"{api_url}/ui#key={seeded.token}&filter={seeded.prefix}")
    conn = browser.find_element(By.CSS_SELECTOR, '[data-testid="connection"]')
    sel = f'[data-testid="frame-info-{cam}"]'

    def frame_info(attr: str) -> str | None:
        """The tile's attribute, found afresh: the tile appears only once the camera list has loaded."""
        els = browser.find_elements(By.CSS_SELECTOR, sel)
        return els[0].get_attribute(attr) if els else None

    _wait(browser, "the live stream", lambda _: conn.text.startswith("live") and frame_info("data-frame-seq"))
    frame = _live_doc(cam, 9999, datetime.now(UTC), ["bus", "car", "car", "truck"])
    msg = json.dumps({"type": "detections", "camera_id": cam, "data": frame})
    r = redis.Redis.from_url(stack.redis_url)
    try:
        _wait(
            browser,
            "the streamed frame",
            lambda _: r.publish("its:events", msg) >= 0 and frame_info("data-frame-seq") == "9999",
            timeout=20,
        )
    finally:
        r.close()
    assert frame_info("data-detections") == "4"


@pytest.mark.parametrize("status", [401, 429])
def test_errors_are_shown_not_swallowed(
    api_url: str, browser: Any, seeded: Seeded, make_key: Callable[[int], str], status: int
) -> None:
    """An unknown key (401) and a spent rate limit (429: two requests a minute, and the page makes more) each put
    a visible banner up, with the API's own detail."""
    from selenium.webdriver.common.by import By

    token = new_token()[2] if status == 401 else make_key(2)
    browser.get(f"{api_url}/ui#key={token}&filter={seeded.prefix}")
    banner = browser.find_element(By.CSS_SELECTOR, '[data-testid="error-banner"]')
    _wait(
        browser,
        f"the {status} banner",
        lambda _: banner.is_displayed() and banner.get_attribute("data-status") == str(status),
    )
    assert f"({status}" in banner.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"test_page_{status}.png"))
