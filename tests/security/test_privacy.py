"""Privacy (issue 18, section 5), tried for real: privacy masks blacked out by ingest before any frame reaches Kafka
(frames and stills topics), stills served with persons blurred unless the camera turns it off (audited), a camera
purged with ?purge=true (rows and Redis keys gone; a plain DELETE keeps them), retention settings reaching the
frames topic's config and the retention job."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import psycopg
import pytest
import redis
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from starlette.testclient import TestClient

from deploy.stack.settings import StackSettings, repo_root
from projections.api import ApiSettings, create_app
from projections.api.keys import create_key
from projections.api.privacy import BLUR_OFF_ROUTE
from projections.cache import counts_key, live_key, status_key
from projections.projector import Projector
from projections.purge import PURGE_HEADER, PURGED_TABLES, purge_rows
from projections.retention import RetentionSettings, apply_retention
from projections.settings import ProjectorSettings
from projections.snapshots import blur_boxes, snapshot_key
from schemas import codec
from schemas.cameras import camera_config
from schemas.topics import FRAMES
from streams.ingest.camera import CameraRunner, RunnerContext
from streams.ingest.encoder import EncoderPool, encode_frame
from streams.ingest.frames import DecodedFrame
from streams.ingest.masks import apply_masks, privacy_masks
from streams.ingest.producer import FrameProducer
from tests.kafka_helpers import produce, read_all
from tests.projections.api.conftest import add_camera, add_status, api_settings, make_key  # noqa: F401
from tests.projections.readmodels import scratch_schema

MASK = [{"x": 0.1, "y": 0.1}, {"x": 0.4, "y": 0.1}, {"x": 0.4, "y": 0.5}, {"x": 0.1, "y": 0.5}]
PRIVACY_ZONE = {"zone_id": "p1", "name": "windows", "kind": "privacy", "points": MASK}
INSIDE = (0.13, 0.14, 0.37, 0.46)  # well inside MASK (JPEG blocks at the edge bleed a little)


def _textured(w: int, h: int, seed: int = 0) -> np.ndarray[Any, Any]:
    """A bright, busy picture: JPEG keeps it busy, so black can only come from a mask."""
    rng = np.random.default_rng(seed)
    img = rng.integers(90, 255, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def _region(img: np.ndarray[Any, Any], box: tuple[float, float, float, float]) -> np.ndarray[Any, Any]:
    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    return img[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)]


def _decode(jpeg: bytes) -> np.ndarray[Any, Any]:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def _assert_masked(jpeg: bytes) -> None:
    img = _decode(jpeg)
    assert float(_region(img, INSIDE).mean()) < 6.0, "masked pixels are not black"
    assert float(_region(img, (0.55, 0.55, 0.95, 0.95)).mean()) > 80.0, "the rest of the picture must stay"


# -- masks: unit level (every encode path) ---------------------------------------------------------------------
def test_privacy_zones_are_the_masks_and_other_kinds_are_not() -> None:
    zones = [PRIVACY_ZONE, {"zone_id": "a", "name": "", "kind": "approach", "points": MASK}]
    assert privacy_masks(zones) == (tuple((p["x"], p["y"]) for p in MASK),)
    img = np.full((100, 200, 3), 255, np.uint8)
    apply_masks(img, privacy_masks(zones))
    assert img[20:45, 25:75].max() == 0 and img[60:, 100:].min() == 255


def test_every_encode_path_masks_and_an_mjpeg_frame_is_never_passed_through_unmasked() -> None:
    masks = privacy_masks([PRIVACY_ZONE])
    pic = _textured(1280, 720)
    ok, buf = cv2.imencode(".jpg", pic, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    camera_jpeg = buf.tobytes()
    # an MJPEG camera's JPEG that fits: passed through untouched only without masks
    plain, w, h = encode_frame(DecodedFrame(0, 0, 1280, 720, jpeg=camera_jpeg), 1280, 720, 90)
    assert plain == camera_jpeg and (w, h) == (1280, 720)
    masked, _, _ = encode_frame(DecodedFrame(0, 0, 1280, 720, jpeg=camera_jpeg), 1280, 720, 90, masks)
    assert masked != camera_jpeg
    _assert_masked(masked)
    # scaled MJPEG, and decoded video frames (full size and scaled): the mask follows the picture
    scaled, w, h = encode_frame(DecodedFrame(0, 0, 1280, 720, jpeg=camera_jpeg), 640, 360, 90, masks)
    assert (w, h) == (640, 360)
    _assert_masked(scaled)
    frame = av.VideoFrame.from_ndarray(pic, format="bgr24")
    for cap in ((1280, 720), (480, 270)):
        out, w, h = encode_frame(DecodedFrame(0, 0, 1280, 720, frame=frame), *cap, 90, masks)
        assert (w, h) == cap
        _assert_masked(out)


def test_masking_cost_at_720p_is_small() -> None:
    """Measured: filling three polygons on a 1280x720 frame costs a fraction of a millisecond (the JPEG encode
    that follows costs several)."""
    masks = privacy_masks(
        [
            PRIVACY_ZONE,
            {**PRIVACY_ZONE, "points": [{"x": 0.6, "y": 0.1}, {"x": 0.9, "y": 0.15}, {"x": 0.8, "y": 0.4}]},
            {**PRIVACY_ZONE, "points": [{"x": 0.4, "y": 0.7}, {"x": 0.6, "y": 0.65}, {"x": 0.55, "y": 0.95}]},
        ]
    )
    img = _textured(1280, 720)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        apply_masks(img, masks)
    per_frame_ms = (time.perf_counter() - t0) / n * 1000
    print(f"masking 3 polygons at 1280x720: {per_frame_ms:.3f} ms/frame")
    assert per_frame_ms < 5.0


# -- masks: through the real ingest runner to Kafka ---------------------------------------------------------------
@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "privacy.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (1280, 720))
    for i in range(10):
        out.write(_textured(1280, 720, seed=i))
    out.release()
    return path


@pytest.mark.integration
def test_frames_and_stills_on_kafka_are_black_inside_the_privacy_mask(
    bootstrap: str, make_topic: Callable[..., str], unique: str, clip: Path
) -> None:
    frames, status, snaps = make_topic("frames", 1), make_topic("status", 1), make_topic("snaps", 1)
    producer = FrameProducer(bootstrap, frames_topic=frames)
    pool = EncoderPool(1)
    ctx = RunnerContext(
        producer, pool, frames, status, "test-worker", once=True, block_when_busy=True,
        snapshots_topic=snaps, snapshot_interval_s=0.0,
    )  # fmt: skip
    cfg = camera_config(f"masked-{unique}", str(clip), target_fps=10.0, zones=[PRIVACY_ZONE])
    runner = CameraRunner(cfg, ctx)
    runner.start()
    assert runner.join(60)
    pool.close()
    producer.close(10)
    assert runner.sent == 10, runner.last_error
    for topic in (frames, snaps):
        got = read_all(bootstrap, topic, 10, timeout=30)
        assert len(got) == 10, topic
        for m in got:
            event = codec("FrameCaptured").decode(m.value())
            assert (event["width"], event["height"]) == (1280, 720)
            _assert_masked(event["image"])


# -- stills: persons blurred through the real projector, served by the API ---------------------------------------
def _projector_settings(bootstrap: str, pg_dsn: str, redis_url: str, unique: str, **topics: str) -> ProjectorSettings:
    fields = {
        f"{k}_topic": ""
        for k in (
            "cameras", "camera_status", "detections", "vehicle_events", "traffic_stats", "incidents", "movements",
            "snapshots",
        )
    }  # fmt: skip
    fields.update(topics)
    return ProjectorSettings(
        kafka_bootstrap=bootstrap,
        pg_dsn=pg_dsn,
        redis_url=redis_url,
        group_id=f"test-privacy-{unique}",
        metrics_port=0,
        **fields,
    )


def _run_projector(s: ProjectorSettings, during: Callable[[], None] | None = None, idle_s: float = 30.0) -> None:
    """Run a projector until idle; `during` runs once it has its partitions (stills are read from the end)."""
    p = Projector(s)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            p.run(idle_exit_s=idle_s)
        except BaseException as e:  # reported by the assertion below, not lost in the thread
            failed.append(e)
            raise

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 30
    while t.is_alive() and time.monotonic() < deadline:
        try:
            if p.consumer.assignment():
                break
        except RuntimeError:  # the projector closed its consumer between is_alive() and here: reported below
            break
        time.sleep(0.2)
    assert t.is_alive(), f"the projector stopped before it was assigned its partitions ({failed or 'no error'})"
    time.sleep(1.0)
    if during is not None:
        during()
    t.join(90)
    assert not t.is_alive()


PERSON = (200, 100, 300, 320)  # x1, y1, x2, y2 in 640x360 pixels


def _detections(
    cam: str,
    seq: int,
    at: datetime,
    boxes: list[tuple[str, tuple[int, int, int, int]]],
    class_names: tuple[str, ...] = ("person", "bicycle", "car"),
) -> bytes:
    return codec("DetectionsProduced").encode(
        {
            "camera_id": cam,
            "frame_seq": seq,
            "captured_at": at,
            "produced_at": at + timedelta(milliseconds=40),
            "width": 640,
            "height": 360,
            "model": {
                "name": "yolo11n",
                "version": "ab" * 6,
                "sha256": "ab" * 32,
                "backend": "onnxruntime",
                "precision": "fp32",
                "imgsz": 640,
                "class_names": list(class_names),
            },
            "detections": [
                {
                    "class_id": {"person": 0, "car": 2}[c],
                    "class_name": c,
                    "confidence": 0.9,
                    "x1": float(b[0]),
                    "y1": float(b[1]),
                    "x2": float(b[2]),
                    "y2": float(b[3]),
                }
                for c, b in boxes
            ],
            "timings": {
                "queued_ms": 1.0,
                "decode_ms": 1.0,
                "preprocess_ms": 1.0,
                "inference_ms": 1.0,
                "postprocess_ms": 1.0,
                "total_ms": 5.0,
                "batch_size": 1,
            },
        }
    )


def _still(cam: str, seq: int, at: datetime, jpeg: bytes) -> bytes:
    return codec("FrameCaptured").encode(
        {
            "camera_id": cam,
            "frame_seq": seq,
            "captured_at": at,
            "source_pts_us": None,
            "width": 640,
            "height": 360,
            "encoding": "jpeg",
            "image": jpeg,
            "source": "test",
        }
    )


def _person_variance(jpeg: bytes) -> float:
    img = cv2.cvtColor(_decode(jpeg), cv2.COLOR_BGR2GRAY).astype(np.float64)
    x1, y1, x2, y2 = PERSON
    return float(img[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].var())


@pytest.fixture
def cleanup(pg_dsn: str, stack: StackSettings) -> Iterator[list[str]]:
    """Cameras a test made: their rows and Redis keys are purged afterwards."""
    cams: list[str] = []
    yield cams
    with psycopg.connect(pg_dsn) as conn, conn.cursor() as cur:
        purge_rows(cur, cams)
    r = redis.Redis.from_url(stack.redis_url)
    for c in cams:
        r.delete(live_key(c), status_key(c), counts_key(c), snapshot_key(c), f"its:snap:pending:{c}")
    r.close()


@pytest.mark.integration
def test_the_served_still_has_persons_blurred_unless_the_camera_turns_it_off(
    bootstrap: str,
    pg_dsn: str,
    stack: StackSettings,
    make_topic: Callable[..., str],
    unique: str,
    api_settings: ApiSettings,  # noqa: F811
    make_key: Callable[..., str],  # noqa: F811
    cleanup: list[str],
) -> None:
    cams_t, snaps, dets = make_topic("cams", 1), make_topic("snaps", 1), make_topic("dets", 1)
    blur, plain, early = f"blur-{unique}", f"plain-{unique}", f"early-{unique}"
    cleanup += [blur, plain, early]
    enc = codec("CameraConfig").encode
    produce(
        bootstrap,
        cams_t,
        [
            (blur.encode(), enc(camera_config(blur, "rtsp://10.0.0.1/a"))),  # blur_persons: default true
            (early.encode(), enc(camera_config(early, "rtsp://10.0.0.1/c"))),
            (plain.encode(), enc(camera_config(plain, "rtsp://10.0.0.1/b", blur_persons=False))),
        ],
    )
    pic = _textured(640, 360, seed=7)
    x1, y1, x2, y2 = PERSON
    pic[y1:y2, x1:x2] = np.random.default_rng(3).integers(0, 255, (y2 - y1, x2 - x1, 3), dtype=np.uint8)
    original = cv2.imencode(".jpg", pic, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    at = datetime.now(UTC).replace(microsecond=0)
    person = [("person", PERSON), ("car", (400, 200, 600, 350))]

    def traffic() -> None:
        # the usual order: the still, then (after inference) the detections of its frame
        r = redis.Redis.from_url(stack.redis_url)
        deadline = time.monotonic() + 20
        while not r.exists(f"its:snap:pending:{blur}") and time.monotonic() < deadline:
            # the projector reads stills from the end: send again until they arrived after its seek
            produce(bootstrap, snaps, [(c.encode(), _still(c, 100, at, original)) for c in (blur, plain)])
            time.sleep(1.0)
        r.close()
        produce(bootstrap, dets, [(c.encode(), _detections(c, 100, at, person)) for c in (blur, plain)])
        # the other order: detections first, then the still
        produce(bootstrap, dets, [(early.encode(), _detections(early, 7, at, person))])
        time.sleep(1.0)
        produce(bootstrap, snaps, [(early.encode(), _still(early, 7, at, original))])

    s = _projector_settings(
        bootstrap, pg_dsn, stack.redis_url, unique, cameras_topic=cams_t, snapshots_topic=snaps, detections_topic=dets
    )
    _run_projector(s, traffic)

    read = {"Authorization": f"Bearer {make_key('read')}"}
    before = _person_variance(original)
    with TestClient(create_app(api_settings)) as client:
        for cam in (blur, early):
            got = client.get(f"/v1/cameras/{cam}/snapshot.jpg", headers=read)
            assert got.status_code == 200, got.text
            assert got.headers["x-frame-seq"] in ("100", "7")
            after = _person_variance(got.content)
            assert after < before / 20, (cam, before, after)  # the person is unrecognisable
            # the rest of the picture is as captured (JPEG re-encoding noise only)
            diff = np.abs(_decode(got.content).astype(int) - _decode(original).astype(int))[:, :150]
            assert diff.mean() < 4.0
        got = client.get(f"/v1/cameras/{plain}/snapshot.jpg", headers=read)
        assert got.status_code == 200 and got.content == original  # blur_persons false: as captured
        # Turned back on: the still kept unblurred is never served; the next one comes blurred.
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(
                "UPDATE cameras SET config = jsonb_set(config, '{blur_persons}', 'true') WHERE camera_id = %s",
                (plain,),
            )
        refused = client.get(f"/v1/cameras/{plain}/snapshot.jpg", headers=read)
        assert refused.status_code == 404 and "blurs persons" in refused.json()["detail"]


@pytest.mark.integration
def test_a_still_whose_detections_never_come_or_cannot_show_persons_is_not_served(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str, cleanup: list[str]
) -> None:
    cams_t, snaps, dets = make_topic("cams", 1), make_topic("snaps", 1), make_topic("dets", 1)
    cam, blind = f"waiting-{unique}", f"blind-{unique}"  # blind: inference does not look for persons
    cleanup += [cam, blind]
    enc = codec("CameraConfig").encode
    produce(bootstrap, cams_t, [(c.encode(), enc(camera_config(c, "rtsp://10.0.0.1/"))) for c in (cam, blind)])
    jpeg = cv2.imencode(".jpg", _textured(640, 360))[1].tobytes()
    at = datetime.now(UTC)
    s = _projector_settings(
        bootstrap, pg_dsn, stack.redis_url, unique, cameras_topic=cams_t, snapshots_topic=snaps, detections_topic=dets
    )
    r = redis.Redis.from_url(stack.redis_url)

    def send_until_parked() -> None:
        # the projector reads stills from the end: send again until they arrived after its seek
        deadline = time.monotonic() + 20
        while not r.exists(f"its:snap:pending:{cam}") and time.monotonic() < deadline:
            produce(bootstrap, snaps, [(c.encode(), _still(c, 5, at, jpeg)) for c in (cam, blind)])
            time.sleep(1.0)
        produce(bootstrap, dets, [(blind.encode(), _detections(blind, 5, at, [("car", (1, 1, 50, 50))], ("car",)))])

    _run_projector(s, send_until_parked, idle_s=4.0)
    try:
        for c in (cam, blind):
            assert not r.exists(snapshot_key(c)), c  # nothing served
            assert 0 < r.ttl(f"its:snap:pending:{c}") <= 30, c  # parked, and it expires
    finally:
        r.close()


def test_blurring_keeps_the_picture_outside_the_boxes() -> None:
    pic = _textured(640, 360, seed=1)
    jpeg = cv2.imencode(".jpg", pic, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert blur_boxes(jpeg, (), (640, 360)) == jpeg
    out = _decode(blur_boxes(jpeg, ((320.0, 180.0, 640.0, 360.0),), (1280, 720)))  # boxes in another frame size

    # the box, scaled from 1280x720 to the still's 640x360: (160, 90)-(320, 180), padded by 10%
    def detail(img: np.ndarray[Any, Any]) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert detail(out[95:175, 165:315]) < detail(_decode(jpeg)[95:175, 165:315]) / 50
    assert np.abs(out[:70, :140].astype(int) - _decode(jpeg)[:70, :140].astype(int)).mean() < 6  # JPEG noise


# -- the blur setting turned off is audited ------------------------------------------------------------------------
def _audit_rows(pg_dsn: str, path: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_dsn) as conn:
        return conn.execute(
            "SELECT key_id, method, route, query, status FROM audit_log WHERE path = %s ORDER BY id", (path,)
        ).fetchall()


@pytest.mark.integration
def test_turning_blur_off_writes_an_audit_entry_naming_the_key(
    pg_dsn: str,
    api_settings: ApiSettings,  # noqa: F811
    cleanup: list[str],
    unique: str,
) -> None:
    cam = f"audited-{unique}"
    cleanup.append(cam)
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    key_id, token = create_key(pg_dsn, "privacy-test", ["ops"], 1_000_000)
    ops = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(create_app(api_settings)) as client:
            assert client.patch(f"/v1/cameras/{cam}", json={"name": "renamed"}, headers=ops).status_code == 202
            r = client.patch(f"/v1/cameras/{cam}", json={"blur_persons": False}, headers=ops)
            assert r.status_code == 202, r.text
            assert r.json()["accepted"]["blur_persons"] is False
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))
    rows = _audit_rows(pg_dsn, f"/v1/cameras/{cam}")
    privacy = [r for r in rows if r[2] == BLUR_OFF_ROUTE]
    assert privacy == [(key_id, "PATCH", BLUR_OFF_ROUTE, f"camera_id={cam}&blur_persons=false", 202)]
    assert len(rows) == 3  # the two requests' own rows, and the blur-off entry (a rename adds none)


# -- DELETE ?purge=true ----------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_purge_removes_rows_and_redis_keys_and_a_plain_delete_keeps_them(
    bootstrap: str,
    pg_dsn: str,
    stack: StackSettings,
    unique: str,
    api_settings: ApiSettings,  # noqa: F811
    make_key: Callable[..., str],  # noqa: F811
    cleanup: list[str],
) -> None:
    purged, kept = f"purged-{unique}", f"kept-{unique}"
    cleanup += [purged, kept]
    now = datetime.now(UTC).replace(microsecond=0)
    r = redis.Redis.from_url(stack.redis_url)
    with psycopg.connect(pg_dsn) as conn:
        for cam in (purged, kept):
            add_camera(conn, cam)
            add_status(conn, cam)
            conn.execute(
                "INSERT INTO traffic_stats (camera_id, window_start, window_end, frames, vehicles, mean_speed_kmh,"
                " speed_samples, mean_occupancy, late_frames, closed_by) VALUES (%s, %s, %s, 10, 1, NULL, 0, 0, 0,"
                " 'NEXT_FRAME')",
                (cam, now - timedelta(minutes=1), now),
            )
            conn.execute(
                "INSERT INTO vehicle_counts_minute (camera_id, minute, line_id, class_name, direction, vehicles,"
                " speed_sum, speed_n) VALUES (%s, %s, 'l1', 'car', 'IN', 3, 0, 0)",
                (cam, now.replace(second=0)),
            )
            for key in (live_key(cam), status_key(cam), counts_key(cam), snapshot_key(cam)):
                r.hset(key, "x", "1")
    ops = {"Authorization": f"Bearer {make_key('ops')}"}
    with TestClient(create_app(api_settings)) as client:
        bad = client.delete(f"/v1/cameras/{purged}?purge=maybe", headers=ops)
        assert bad.status_code == 400
        d1 = client.delete(f"/v1/cameras/{purged}?purge=true", headers=ops)
        d2 = client.delete(f"/v1/cameras/{kept}", headers=ops)
        assert d1.status_code == d2.status_code == 202, (d1.text, d2.text)
        assert d1.json()["accepted"] == {"camera_id": purged, "deleted": True, "purged": True}
        assert d2.json()["accepted"]["purged"] is False
    # the tombstones: only the purging one carries the header (services talk only through topics)
    tombs = {
        m.key().decode(): (m.value(), dict(m.headers() or []))
        for m in read_all(bootstrap, api_settings.cameras_topic, 2)
    }
    assert tombs[purged] == (None, {PURGE_HEADER: b"1"}) and tombs[kept] == (None, {})
    # audited: the request's own row carries the query
    assert [row[3] for row in _audit_rows(pg_dsn, f"/v1/cameras/{purged}") if row[1] == "DELETE"] == [
        "purge=maybe",
        "purge=true",
    ]

    _run_projector(
        _projector_settings(bootstrap, pg_dsn, stack.redis_url, unique, cameras_topic=api_settings.cameras_topic)
    )
    with psycopg.connect(pg_dsn) as conn:
        for table in PURGED_TABLES:
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE camera_id = %s", (purged,)).fetchone()
            assert n == (0,), table
        assert conn.execute("SELECT deleted_at IS NOT NULL FROM cameras WHERE camera_id = %s", (kept,)).fetchone() == (
            True,
        )
        for table in ("camera_status", "traffic_stats", "vehicle_counts_minute"):
            n = conn.execute(f"SELECT count(*) FROM {table} WHERE camera_id = %s", (kept,)).fetchone()
            assert n == (1,), table
    try:
        assert r.exists(live_key(purged), status_key(purged), counts_key(purged), snapshot_key(purged)) == 0
        assert r.exists(live_key(kept), status_key(kept), counts_key(kept), snapshot_key(kept)) == 4
    finally:
        r.close()


# -- retention settings ------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_the_frames_retention_setting_reaches_the_topic_config(
    bootstrap: str, make_topic: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventbus.admin import apply_topics

    name = make_topic("frames", 1)
    monkeypatch.setenv("ITS_RETENTION_FRAMES_MS", "900000")
    apply_topics(bootstrap, [replace(FRAMES, name=name, partitions=1)])
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    cfg = admin.describe_configs([res])[res].result(timeout=30)
    assert cfg["retention.ms"].value == "900000"
    monkeypatch.setenv("ITS_RETENTION_FRAMES_MS", "12")
    with pytest.raises(ValueError, match="ITS_RETENTION_FRAMES_MS"):
        FRAMES.config()


@pytest.mark.integration
def test_the_retention_job_deletes_each_kind_after_its_setting(pg_dsn: str, unique: str) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(hours=2)
    cam = f"ret-{unique}"
    with scratch_schema(pg_dsn, "ret") as schema:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(f"SET search_path TO {schema}")
            for i, at in enumerate((old, recent)):
                conn.execute(
                    "INSERT INTO vehicle_events (event_id, camera_id, line_id, line_name, track_id, direction, motion,"
                    " class_name, class_id, confidence, frame_seq, crossed_at, x, y, speed_kmh)"
                    " VALUES (%s, %s, 'l1', '', 1, 'IN', 'DOWN', 'car', 2, 0.9, 1, %s, 0.5, 0.5, NULL)",
                    (f"{cam}-{i}", cam, at),
                )
                conn.execute(
                    "INSERT INTO traffic_stats (camera_id, window_start, window_end, frames, vehicles, mean_speed_kmh,"
                    " speed_samples, mean_occupancy, late_frames, closed_by) VALUES (%s, %s, %s, 1, 1, NULL, 0, 0, 0,"
                    " 'NEXT_FRAME')",
                    (cam, at - timedelta(minutes=1), at),
                )
                conn.execute(
                    "INSERT INTO audit_log (at, key_id, method, path, route, query, status, duration_ms, client,"
                    " request_id) VALUES (%s, NULL, 'GET', '/x', NULL, '', 200, 1, NULL, %s)",
                    (at, f"{unique}-{i}"),
                )
        env = {
            **os.environ,
            "ITS_RETENTION_VEHICLE_EVENTS_DAYS": "30",
            "ITS_RETENTION_STATISTICS_DAYS": "30",
            "ITS_RETENTION_AUDIT_DAYS": "30",
        }
        cli = [str(repo_root() / ".venv/bin/itscam"), "db", "retention", "--schema", schema, "--dsn", pg_dsn]
        out = subprocess.run(cli, capture_output=True, text=True, check=True, env=env).stdout
        assert f"deleted 1 rows of {schema}.vehicle_events" in out
        assert f"deleted 1 rows of {schema}.traffic_stats" in out
        assert f"deleted 1 rows of {schema}.audit_log" in out
        assert "kept for ever (no ITS_RETENTION_*_DAYS set): detections" in out
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(f"SET search_path TO {schema}")
            for table in ("vehicle_events", "traffic_stats", "audit_log"):
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,), table
            # unset: kept
            rep = apply_retention(conn, RetentionSettings(), dry_run=True)
            assert rep.deleted == {} and "audit" in rep.kept_kinds
