"""The camera view of /ui in headless Chromium: every number shown (per-line counts, chart, speeds, incidents, the
origin-destination matrix, statistics) equals the API's JSON, CSV downloads equal the API's CSV, and a phone-sized
viewport. Fixtures and helpers: camera_view.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.projections.api.camera_view import (
    Api,
    Seeded,
    _cells,
    _click,
    _el,
    _open,
    _picture_shown,
)
from tests.projections.api.test_page import ARTIFACTS, EMPTY, _coloured_pixels, _wait, console_problems

pytestmark = pytest.mark.integration


def test_the_numbers_are_the_apis(api: Api, seeded: Seeded, browser: Any, request: pytest.FixtureRequest) -> None:
    cam = seeded.counted
    _open(browser, api, api.read, cam)
    _picture_shown(browser)
    http = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.read}"}, timeout=10)
    request.addfinalizer(http.close)
    table = _el(browser, "line-counts")
    matrix = _el(browser, "od-matrix")
    _wait(browser, "the counts", lambda _: table.get_attribute("data-loaded") and matrix.get_attribute("data-loaded"))
    assert not _el(browser, "no-lines-hint").is_displayed()

    params = {k: table.get_attribute(f"data-{k}") for k in ("bucket", "from", "to")}
    assert params["bucket"] == "15m"
    counts = http.get(f"/v1/cameras/{cam}/counts", params=params).json()
    assert set(counts["totals"]["lines"]) == {"l1", "l2"}
    for line_id, want in counts["totals"]["lines"].items():
        row = browser.find_element("css selector", f'[data-testid="line-counts"] tr[data-line-id="{line_id}"]')
        for d in ("IN", "OUT"):
            assert int(row.find_element("css selector", f'td[data-dir="{d}"]').text.replace(",", "")) == want[d]
        assert int(row.find_element("css selector", 'td[data-dir="total"]').text.replace(",", "")) == want["vehicles"]
        speed = row.find_element("css selector", 'td[data-col="speed"]').text
        assert speed == (f"{want['mean_speed_kmh']:.1f} km/h" if want["mean_speed_kmh"] is not None else EMPTY)
    assert "Southbound" in table.text
    chart = _el(browser, "counts-chart")
    assert int(chart.get_attribute("data-total")) == counts["totals"]["vehicles"]
    assert _coloured_pixels(browser, "counts-chart") > 200

    moves = http.get(f"/v1/cameras/{cam}/movements", params={k: matrix.get_attribute(f"data-{k}") for k in params})
    assert moves.status_code == 200, moves.text
    doc = moves.json()
    assert doc["totals"]["matrix"]
    for origin, row in doc["totals"]["matrix"].items():
        for dest, n in row.items():
            cell = matrix.find_element("css selector", f'td[data-origin="{origin}"][data-destination="{dest}"]')
            assert int(cell.text.replace(",", "")) == n, (origin, dest)
    for name in doc["approaches"].values():
        assert name in matrix.text

    events = http.get(f"/v1/cameras/{cam}/vehicle-events", params={"limit": 20}).json()["items"]
    rows = _cells(browser, '[data-testid="speeds"] tr[data-event-id]')
    assert [r.get_attribute("data-event-id") for r in rows] == [e["event_id"] for e in events]
    for r, e in zip(rows, events, strict=True):
        cell = {c: r.find_element("css selector", f'td[data-col="{c}"]').text for c in ("direction", "class", "speed")}
        assert cell["direction"] == e["direction"] and cell["class"] == e["class_name"]
        assert cell["speed"] == (f"{e['speed_kmh']:.1f} km/h" if e["speed_kmh"] is not None else "not calibrated")
    assert any(r.find_element("css selector", 'td[data-col="speed"]').text == "not calibrated" for r in rows)

    stats = http.get(f"/v1/cameras/{cam}/stats", params={"from": params["from"]}).json()["items"]
    latest = stats[-1]
    summary = _el(browser, "stats-summary").text
    assert f"{latest['mean_speed_kmh']:.1f} km/h" in summary and str(latest["vehicles"]) in summary

    incidents = _cells(browser, '[data-testid="incidents"] li[data-incident-id]')
    assert [i.get_attribute("data-incident-id") for i in incidents] == [seeded.incident]
    assert "STOPPED_VEHICLE" in incidents[0].text

    # 1-hour bins: the same totals, fewer bars.
    from selenium.webdriver.support.ui import Select

    Select(_el(browser, "counts-bucket")).select_by_value("1h")
    _wait(browser, "the 1h counts", lambda _: table.get_attribute("data-bucket") == "1h")
    assert int(chart.get_attribute("data-total")) == counts["totals"]["vehicles"]
    assert console_problems(browser) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _el(browser, "camera-data").screenshot(str(ARTIFACTS / "page-counts.png"))


@pytest.mark.parametrize("what", ["counts", "events", "stats", "movements"])
def test_csv_exports_are_the_apis(api: Api, seeded: Seeded, browser: Any, downloads: Path, what: str) -> None:
    cam = seeded.counted
    _open(browser, api, api.read, cam)
    _click(browser, f"export-{what}")
    status = _el(browser, "export-status")
    _wait(browser, f"the {what} download", lambda _: status.get_attribute("data-what") == what or "CSV:" in status.text)
    assert status.get_attribute("data-what") == what, status.text
    name = str(status.get_attribute("data-file"))
    path = downloads / name
    _wait(browser, f"{path}", lambda _: path.exists() and path.stat().st_size > 0)
    r = httpx.get(api.url + str(status.get_attribute("data-url")), headers={"Authorization": f"Bearer {api.read}"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text[:300]
    assert path.read_bytes() == r.content
    assert len(r.text.splitlines()) > 1  # a header and rows


def test_a_phone_sees_the_view_stacked(api: Api, seeded: Seeded, browser: Any) -> None:
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    _open(browser, api, api.read, seeded.counted)
    _picture_shown(browser)
    table = _el(browser, "line-counts")
    _wait(browser, "the counts", lambda _: table.get_attribute("data-loaded"))
    rect = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"
    stage = browser.execute_script(rect, _el(browser, "stage"))
    editor = browser.execute_script(rect, _el(browser, "editor"))
    assert editor[1] >= stage[3] - 1, (stage, editor)  # the editor below the picture, not beside it
    assert stage[2] - stage[0] <= 390
    width = browser.execute_script("return document.documentElement.scrollWidth")
    wide = browser.execute_script(  # what sticks out, outside the tables' own scrolling boxes
        "return [...document.querySelectorAll('body *')]"
        ".filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.scroll')).slice(0, 12)"
        ".map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"
    )
    assert width <= 391, f"the page scrolls sideways on a phone ({width} px): {wide}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("document.getElementById('camera-view').scrollIntoView()")
    assert browser.save_screenshot(str(ARTIFACTS / "page-phone.png"))
