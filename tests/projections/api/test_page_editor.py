"""The camera view of /ui in headless Chromium: drawing lines, zones and a calibration with the mouse, saving them
(ops key; a read key is refused), the no-picture and 422 states. Fixtures and helpers: camera_view.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from deploy.stack.settings import StackSettings
from tests.projections.api.camera_view import (
    Api,
    Seeded,
    _camera,
    _canvas_box,
    _click,
    _click_at,
    _drag,
    _el,
    _mpp,
    _open,
    _picture_shown,
    _saved,
    _type,
)
from tests.projections.api.test_page import ARTIFACTS, _coloured_pixels, _wait, console_problems

pytestmark = pytest.mark.integration


def test_draw_a_line_a_zone_and_a_calibration_and_save_them(api: Api, seeded: Seeded, browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    cam = seeded.draw
    _open(browser, api, api.read, cam)
    _picture_shown(browser)
    hint = _el(browser, "no-lines-hint")
    _wait(browser, "the no-lines hint", lambda _: hint.is_displayed())
    assert hint.text == "draw a line to start counting"

    # A line across the carriageway, left to right: IN (the default LEFT_TO_RIGHT) is downwards, towards the camera.
    _click(browser, "tool-line")
    a = _click_at(browser, 0.2, 0.6)
    b = _click_at(browser, 0.7, 0.58)
    assert _el(browser, "line-id").text == "line-1"
    b = _drag(browser, b, (0.72, 0.6))  # move its right end
    _type(browser, "line-name-input", "Southbound")
    assert _el(browser, "line-direction").get_attribute("data-direction") == "LEFT_TO_RIGHT"
    _click(browser, "line-flip")
    assert _el(browser, "line-direction").get_attribute("data-direction") == "RIGHT_TO_LEFT"
    _click(browser, "line-flip")  # back: vehicles coming towards the camera count IN

    # A read-only key sees everything but cannot save.
    _click(browser, "editor-save")
    status = _el(browser, "save-status")
    _wait(browser, "the read-only refusal", lambda _: status.get_attribute("data-state") == "forbidden")
    assert "ops scope" in _el(browser, "editor-problems").text
    assert _camera(api, cam)["config"]["lines"] == []

    # The ops key saves it; the registry (through Kafka and the projector) holds what was drawn.
    browser.find_element("id", "key-input").clear()
    browser.find_element("id", "key-input").send_keys(api.ops)
    browser.find_element("css selector", "#key-form button[type=submit]").click()
    _click(browser, "editor-save")
    _saved(browser)
    [line] = _camera(api, cam)["config"]["lines"]
    assert (line["line_id"], line["name"], line["in_direction"]) == ("line-1", "Southbound", "LEFT_TO_RIGHT")
    for got, want in [(line["x1"], a[0]), (line["y1"], a[1]), (line["x2"], b[0]), (line["y2"], b[1])]:
        assert abs(got - want) <= 0.01, (line, a, b)
    _wait(browser, "the line's counts row", lambda _: not _el(browser, "no-lines-hint").is_displayed())

    # A three-point approach zone, closed by clicking its first point again.
    _click(browser, "tool-zone")
    pts = [_click_at(browser, *p) for p in [(0.42, 0.3), (0.56, 0.3), (0.5, 0.45)]]
    _click_at(browser, 0.42, 0.3)
    assert _el(browser, "zone-id").text == "zone-1"
    _type(browser, "zone-name-input", "North")
    assert Select(_el(browser, "zone-kind")).first_selected_option.get_attribute("value") == "approach"

    # Calibration: four lane-marking corners, two lanes (7 m) wide and 24 m long.
    _click(browser, "tool-calibrate")
    quad = [_click_at(browser, *p) for p in [(0.33, 0.75), (0.52, 0.75), (0.49, 0.5), (0.39, 0.5)]]
    for i, (gx, gy) in enumerate([(0, 0), (7, 0), (7, 24), (0, 24)]):
        _type(browser, f"calib-x-{i}", str(gx))
        _type(browser, f"calib-y-{i}", str(gy))
    preview = _el(browser, "calib-preview")
    _wait(browser, "the scale preview", lambda _: preview.get_attribute("data-mpp-centre"))
    assert "cm per pixel" in preview.text
    _click(browser, "editor-save")
    _saved(browser)
    cfg = _camera(api, cam)["config"]
    [zone] = cfg["zones"]
    assert (zone["zone_id"], zone["name"], zone["kind"]) == ("zone-1", "North", "approach")
    for q, (x, y) in zip(zone["points"], pts, strict=True):
        assert abs(q["x"] - x) <= 0.01 and abs(q["y"] - y) <= 0.01, (zone, pts)
    cal = cfg["calibration"]
    assert [(g["x"], g["y"]) for g in cal["ground_points"]] == [(0, 0), (7, 0), (7, 24), (0, 24)]
    for q, (x, y) in zip(cal["image_points"], quad, strict=True):
        assert abs(q["x"] - x) <= 0.01 and abs(q["y"] - y) <= 0.01, (cal, quad)
    # The preview's scale is the analytics stage's homography at the quad's centre, near and far edges.
    img = cal["image_points"]
    centre = (sum(q["x"] for q in img) / 4, sum(q["y"] for q in img) / 4)
    mids = [((p["x"] + q["x"]) / 2, (p["y"] + q["y"]) / 2) for p, q in zip(img, img[1:] + img[:1], strict=True)]
    for attr, p in [
        ("centre", centre),
        ("near", max(mids, key=lambda m: m[1])),
        ("far", min(mids, key=lambda m: m[1])),
    ]:
        shown = float(preview.get_attribute(f"data-mpp-{attr}"))
        assert shown == pytest.approx(_mpp(cal, p), rel=1e-4), attr
    assert float(preview.get_attribute("data-mpp-near")) < float(preview.get_attribute("data-mpp-far"))

    assert _coloured_pixels(browser, "editor-canvas") > 500
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("document.getElementById('camera-view').scrollIntoView()")
    _click(browser, "tool-select")
    assert browser.save_screenshot(str(ARTIFACTS / "page-lines.png"))
    stage = _el(browser, "stage")
    assert stage.screenshot(str(ARTIFACTS / "page-lines-picture.png"))

    # Three points on one line give no homography: a clear message, and nothing is saved.
    _click(browser, "tool-calibrate")
    _click(browser, "calib-reset")
    for p in [(0.2, 0.8), (0.4, 0.7), (0.6, 0.6), (0.3, 0.4)]:
        _click_at(browser, *p)
    msg = _el(browser, "calib-message")
    _wait(browser, "the collinear message", lambda _: "lie on one line" in msg.text)
    assert not preview.get_attribute("data-mpp-centre")
    _click(browser, "editor-save")
    _wait(browser, "the refusal", lambda _: status.get_attribute("data-state") == "invalid")
    assert "lie on one line" in _el(browser, "editor-problems").text
    time.sleep(1)
    assert _camera(api, cam)["config"]["calibration"] == cal

    # Remove the calibration: {"calibration": null}.
    _click(browser, "calib-remove")
    _saved(browser)
    assert _camera(api, cam)["config"]["calibration"] is None
    assert console_problems(browser) == []


def test_without_a_picture_it_says_so_and_a_422_is_shown_next_to_the_editor(
    api: Api, seeded: Seeded, browser: Any, stack: StackSettings
) -> None:
    """No still kept (the camera sent no frame lately): the page says so and drawing still works, on a blank area
    of the frame's shape. A line the schema refuses (a name with a NUL character, typed by a script) shows the
    422's invalid_params next to the editor."""
    r = redis.Redis.from_url(stack.redis_url)
    r.delete(f"its:snap:{seeded.draw}")
    r.close()
    _open(browser, api, api.ops, seeded.draw)
    note = _el(browser, "no-picture")
    _wait(browser, "the no-picture note", lambda _: note.is_displayed() and "no recent picture" in note.text)
    assert note.text == "no recent picture: the camera has sent no frame lately"
    assert not _el(browser, "snapshot-img").is_displayed()
    w, h = _canvas_box(browser)
    assert w / h == pytest.approx(16 / 9, rel=0.02)
    _click(browser, "tool-line")
    _click_at(browser, 0.1, 0.5)
    _click_at(browser, 0.5, 0.5)
    browser.execute_script(
        "const i = document.querySelector('[data-testid=line-name-input]');"
        "i.value = 'bad\\u0000name'; i.dispatchEvent(new Event('input'));"
    )
    _click(browser, "editor-save")
    status = _el(browser, "save-status")
    _wait(browser, "the 422", lambda _: status.get_attribute("data-state") == "invalid")
    assert "lines[0].name" in _el(browser, "editor-problems").text


_DARK_SHARE = """
const [c, x0, y0, x1, y1] = arguments;
const ctx = c.getContext('2d');
const r = c.width / c.getBoundingClientRect().width;
const [a, b] = [Math.round(x0 * c.width), Math.round(y0 * c.height)];
const d = ctx.getImageData(a, b, Math.max(1, Math.round((x1 - x0) * c.width)),
                           Math.max(1, Math.round((y1 - y0) * c.height))).data;
let dark = 0, n = 0;
for (let i = 0; i < d.length; i += 4) {
  n++;
  if (d[i + 3] > 250 && d[i] < 60 && d[i + 1] < 60 && d[i + 2] < 60) dark++;
}
return r > 0 ? dark / n : 0;
"""


def test_draw_a_privacy_mask_shown_black_and_saved_as_a_privacy_zone(api: Api, seeded: Seeded, browser: Any) -> None:
    """A privacy mask is drawn like a zone (kind "privacy"); the editor paints it opaque black (hatched) over the
    picture, and it is saved as a zone of kind privacy (ingest blacks it out before encoding)."""
    from selenium.webdriver.support.ui import Select

    cam = seeded.draw
    _open(browser, api, api.ops, cam)
    _picture_shown(browser)
    _click(browser, "tool-zone")
    pts = [_click_at(browser, *p) for p in [(0.1, 0.1), (0.4, 0.1), (0.4, 0.4), (0.1, 0.4)]]
    _click_at(browser, 0.1, 0.1)  # close it on its first point
    assert _el(browser, "zone-id").text == "zone-1"
    _type(browser, "zone-name-input", "Windows")
    Select(_el(browser, "zone-kind")).select_by_value("privacy")
    canvas = _el(browser, "editor-canvas")
    # inside the mask, away from its label and edges: (almost) all black, the hatching a few thin lines
    _wait(
        browser,
        "the mask painted black",
        lambda _: browser.execute_script(_DARK_SHARE, canvas, 0.14, 0.13, 0.36, 0.2) > 0.6,
    )
    outside = browser.execute_script(_DARK_SHARE, canvas, 0.6, 0.6, 0.9, 0.9)
    assert outside < 0.5, outside  # the picture shows through the rest of the canvas
    assert "privacy" in _el(browser, "item-list").text
    _click(browser, "editor-save")
    _saved(browser)
    [zone] = _camera(api, cam)["config"]["zones"]
    assert (zone["zone_id"], zone["name"], zone["kind"]) == ("zone-1", "Windows", "privacy")
    for q, (x, y) in zip(zone["points"], pts, strict=True):
        assert abs(q["x"] - x) <= 0.01 and abs(q["y"] - y) <= 0.01, (zone, pts)
    # reopened, the saved mask is still drawn black and its kind shown as privacy
    _open(browser, api, api.read, cam)
    _picture_shown(browser)
    canvas = _el(browser, "editor-canvas")
    _wait(
        browser,
        "the saved mask painted black",
        lambda _: browser.execute_script(_DARK_SHARE, canvas, 0.14, 0.13, 0.36, 0.2) > 0.6,
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert _el(browser, "stage").screenshot(str(ARTIFACTS / "page-privacy-mask.png"))
    assert console_problems(browser) == []


def test_a_camera_changed_elsewhere_since_it_was_opened_is_not_overwritten(
    api: Api, seeded: Seeded, browser: Any
) -> None:
    """The page sends the ETag of the configuration it opened as If-Match: when another editor saved meanwhile,
    the API answers 412 and the page says so instead of overwriting their edit."""
    import httpx

    cam = seeded.draw
    _open(browser, api, api.ops, cam)
    _picture_shown(browser)
    opened = httpx.get(f"{api.url}/v1/cameras/{cam}", headers={"Authorization": f"Bearer {api.read}"}, timeout=10)
    etag = opened.headers["ETag"]
    # another editor renames the camera; wait until the registry applied it (its ETag moves on)
    r = httpx.patch(
        f"{api.url}/v1/cameras/{cam}",
        json={"name": f"renamed {time.time()}"},
        headers={"Authorization": f"Bearer {api.ops}", "If-Match": etag},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        now = httpx.get(f"{api.url}/v1/cameras/{cam}", headers={"Authorization": f"Bearer {api.read}"}, timeout=10)
        if now.headers.get("ETag") != etag:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the rename was not applied within 40 s")
    lines_before = _camera(api, cam)["config"]["lines"]
    _click(browser, "tool-line")
    _click_at(browser, 0.2, 0.6)
    _click_at(browser, 0.7, 0.6)
    _click(browser, "editor-save")
    status = _el(browser, "save-status")
    _wait(browser, "the 412", lambda _: status.get_attribute("data-state") == "conflict")
    assert "412" in _el(browser, "editor-problems").text
    time.sleep(1.0)  # nothing was sent: the registry still holds the other editor's version
    assert _camera(api, cam)["config"]["lines"] == lines_before
