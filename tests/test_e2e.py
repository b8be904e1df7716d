"""End to end: every stage as its own process, the real clip, the real stack; then the demo command itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from deploy.stack.settings import StackSettings
from inference import Detector, InferenceSettings, PostParams
from inference.backends import OnnxRuntimeBackend
from inference.model import resolve_classes
from projections.api.keys import create_key
from schemas import codec
from tests.conftest import CLIP, MODEL
from tests.kafka_helpers import read_all

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHOSEN_FRAME = 42


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pipeline(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    frames, dets, dlq = make_topic("frames", 3), make_topic("dets", 3), make_topic("dlq", 1)
    port = _free_port()
    env = dict(
        os.environ,
        ITS_KAFKA_BOOTSTRAP=bootstrap,
        ITS_PG_DSN=pg_dsn,
        ITS_REDIS_URL=stack.redis_url,
        ITS_INGEST_FRAMES_TOPIC=frames,
        ITS_INFERENCE_FRAMES_TOPIC=frames,
        ITS_INFERENCE_DETECTIONS_TOPIC=dets,
        ITS_INFERENCE_DLQ_TOPIC=dlq,
        ITS_INFERENCE_GROUP_ID=f"e2e-inf-{unique}",
        ITS_PROJECTOR_DETECTIONS_TOPIC=dets,
        ITS_PROJECTOR_DLQ_TOPIC=dlq,
        # this pipeline has no analytics: the projector follows only the detections of its own topic
        ITS_PROJECTOR_CAMERAS_TOPIC="",
        ITS_PROJECTOR_CAMERA_STATUS_TOPIC="",
        ITS_PROJECTOR_VEHICLE_EVENTS_TOPIC="",
        ITS_PROJECTOR_TRAFFIC_STATS_TOPIC="",
        ITS_PROJECTOR_INCIDENTS_TOPIC="",
        ITS_PROJECTOR_MOVEMENTS_TOPIC="",
        ITS_PROJECTOR_SNAPSHOTS_TOPIC="",
        ITS_PROJECTOR_GROUP_ID=f"e2e-proj-{unique}",
        ITS_API_PORT=str(port),
        ITS_INFERENCE_MODEL_PATH=str(MODEL),
    )
    procs = []
    for stage in ("inference", "projector", "api"):
        with (tmp_path / f"{stage}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "itscam", stage, "--metrics-port", "0"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        _wait_for_api(f"http://127.0.0.1:{port}", procs[-1], tmp_path / "api.log")
        yield {
            "env": json.dumps(env),
            "frames": frames,
            "dets": dets,
            "dlq": dlq,
            "base": f"http://127.0.0.1:{port}",
            "token": create_key(pg_dsn, f"e2e-{unique}", ["read"], 60_000)[1],
            "logs": str(tmp_path),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def _wait_for_api(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """The API answers /health before the test drives the pipeline; if it exits first, fail with its log."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"`itscam api` exited with {proc.returncode} before answering:\n{log.read_text(errors='replace')}"
            )
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"`itscam api` did not answer /health within {timeout:.0f} s:\n{log.read_text(errors='replace')}"
            )
        time.sleep(0.2)


def _get(url: str, token: str, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.get(url, params=params, headers=headers, timeout=10)  # type: ignore[arg-type]


def test_clip_through_every_stage(pipeline: dict[str, str], bootstrap: str, unique: str) -> None:
    env = json.loads(pipeline["env"])
    token = pipeline["token"]
    cam = f"e2e-{unique}"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "itscam",
            "ingest",
            "--source",
            str(CLIP),
            "--camera-id",
            cam,
            "--metrics-port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    produced = json.loads(res.stdout.strip().splitlines()[-1])["frames"]
    assert produced == 150  # 450 frames at 29.97 fps sampled to 10 fps

    base = pipeline["base"]
    deadline = time.monotonic() + 240
    doc: dict[str, object] = {}
    while time.monotonic() < deadline:
        r = _get(f"{base}/v1/cameras/{cam}", token)
        if r.status_code == 200 and (doc := r.json())["frames"] == produced:
            break
        time.sleep(0.5)
    assert doc.get("frames") == produced, f"projected {doc}; logs in {pipeline['logs']}"

    # frames in = frames consumed = detections out, no dead letters
    frames = read_all(bootstrap, pipeline["frames"], produced)
    dets = read_all(bootstrap, pipeline["dets"], produced)
    assert len(frames) == len(dets) == produced
    assert sorted(codec("DetectionsProduced").decode(m.value())["frame_seq"] for m in dets) == list(range(produced))
    assert read_all(bootstrap, pipeline["dlq"], 0, timeout=1) == []

    counts = _get(f"{base}/v1/cameras/{cam}/detection-counts", token, bucket="1h").json()
    assert counts["totals"]["frames"] == produced
    assert counts["totals"]["counts"].get("car", 0) > 0

    # the API's detections for one frame equal running the model on that frame directly
    frame = next(
        f for f in (codec("FrameCaptured").decode(m.value()) for m in frames) if f["frame_seq"] == CHOSEN_FRAME
    )
    # as the stage runs it: default class filter, JPEG decoded at reduced scale
    backend = OnnxRuntimeBackend(str(MODEL))
    keep = resolve_classes(InferenceSettings().classes, backend.meta.class_names)
    det = Detector(backend, params=PostParams(classes=keep))
    direct = det.infer([det.prepare_jpeg(frame["image"]).letterbox])[0]
    items = _get(f"{base}/v1/cameras/{cam}/detections", token, frame_seq=CHOSEN_FRAME).json()["items"]
    assert len(items) == 1
    api_dets = items[0]["detections"]
    assert len(api_dets) == len(direct.boxes) > 0
    api_sorted = sorted(api_dets, key=lambda d: (-d["confidence"], d["x1"]))
    for d, b in zip(api_sorted, direct.boxes, strict=True):
        assert d["class_id"] == int(b[5])
        assert np.abs(np.array([d["x1"], d["y1"], d["x2"], d["y2"]]) - b[:4]).max() <= 1.0

    live = _get(f"{base}/v1/cameras/{cam}/live", token).json()
    assert live["frame"]["frame_seq"] == produced - 1


def test_demo_once_writes_the_summary(bootstrap: str, pg_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    res = subprocess.run(
        [sys.executable, "-m", "itscam", "demo", "--once", "--summary", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert {"source", "frames", "detections", "counts", "pipeline_fps", "model_fps"} <= set(summary)
    assert summary["frames"] == summary["frames_produced"] == 150
    assert summary["counts"]["car"] > 0
    assert summary["detections"] == sum(summary["counts"].values())
    assert summary["pipeline_fps"] > 0 and summary["model_fps"] > 0
    assert "car" in res.stdout  # the detections per class were printed

    # vehicles counted on the clip's hand-count line (analytics through the projector, read back from the API)
    assert {"camera_id", "lines", "hand_count", "incidents", "stats", "speeds", "throughput"} <= set(summary)
    assert summary["hand_count"] == 24
    line = summary["lines"]["gt-line"]
    assert abs(line["total"] - 24) <= 2.4, line  # within 10% of the hand count
    assert line["total"] == sum(line["by_direction"].values()) == sum(line["by_class"].values())
    assert line["by_direction"]["IN"] >= line["total"] - 1  # the hand count's direction (down) is IN
    assert line["by_motion"].get("down", 0) == line["by_direction"]["IN"]
    assert summary["speeds"]["calibrated"] is False and summary["speeds"]["mean_kmh"] is None
    assert all(v is not None and v > 0 for v in summary["throughput"].values()), summary["throughput"]
    assert f"{line['total']} counted, hand count 24" in res.stdout
    assert "speeds: camera not calibrated" in res.stdout
    assert "/ui#key=its_" in res.stdout and f"&camera={summary['camera_id']}" in res.stdout


def test_demo_on_a_clip_without_ground_truth_says_how_to_add_a_line(
    bootstrap: str, pg_dsn: str, tmp_path: Path
) -> None:
    clip = tmp_path / "my_own_clip.mp4"  # not in ground_truth.json: no line
    clip.symlink_to(CLIP)
    out = tmp_path / "out.json"
    args = ["demo", "--once", "--source", str(clip), "--max-frames", "20", "--summary", str(out)]
    res = subprocess.run(
        [sys.executable, "-m", "itscam", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "no counting line" in res.stdout
    assert "itscam cameras update my_own_clip-" in res.stdout and "--lines" in res.stdout
    assert "vehicles counted per line" not in res.stdout
    summary = json.loads(out.read_text())
    assert summary["lines"] == {} and summary["hand_count"] is None
    assert summary["frames"] == 20 and summary["camera_id"].startswith("my_own_clip-")
