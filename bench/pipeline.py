"""The whole pipeline against Ultralytics' ObjectCounter on one clip, every frame, same cores (issue 20, item 5).

Ours: ingest (the clip's every frame, read as fast as it decodes, not paced), inference, analytics and the projector,
each its own process over fresh topics, PostgreSQL and Redis from the local stack. Frames per second are the clip's
frames over the time from the first frame produced (its Kafka timestamp) to the last one projected: the moment the
projector has written every frame's detections and every vehicle analytics counted (PostgreSQL, polled every 20 ms).
Model start-up (each stage's process, before the first frame) is not counted, as the peer's model load is not.

The peer: Ultralytics' ObjectCounter (bench/peer.py) in one process, counting on the same clip's every frame with
the same model file and input size: its frames per second are the frames over decoding them (OpenCV) plus its
per-frame calls (detection, ByteTrack, counting).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.counting import Clip, _free_port, _Procs, analytics_topic_env
from eventbus.config import admin_config, consumer_config
from eventbus.registry import put_camera
from itscam.demo import metric_value
from schemas.cameras import camera_config

__all__ = ["peer_pipeline", "run_ours"]

_KINDS = ("frames", "det", "status", "veh", "stats", "inc", "mov", "cams", "dlq")


def _first_timestamp(bootstrap: str, topic: str) -> float:
    """Seconds since the epoch of the earliest record's Kafka timestamp over the topic's partitions."""
    from confluent_kafka import Consumer

    c = Consumer(consumer_config(bootstrap, f"bench-read-{uuid.uuid4().hex[:8]}"))
    c.subscribe([topic])
    first: float | None = None
    deadline, seen = time.monotonic() + 30, 0
    try:
        while time.monotonic() < deadline and (first is None or seen < 8):
            for m in c.consume(500, 0.5):
                if not m.error():
                    _kind, ts = m.timestamp()
                    first = ts / 1000 if first is None else min(first, ts / 1000)
            seen += 1
    finally:
        c.close()
    if first is None:
        raise RuntimeError(f"no record on {topic}: ingest produced nothing")
    return first


def _projected(conn: Any, camera_id: str) -> tuple[int, int]:
    """(frames the projector wrote for the camera, vehicles it counted into vehicle_counts_minute)."""
    row = conn.execute("SELECT coalesce(max(frames), 0) FROM cameras WHERE camera_id = %s", (camera_id,)).fetchone()
    veh = conn.execute(
        "SELECT coalesce(sum(vehicles), 0) FROM vehicle_counts_minute WHERE camera_id = %s", (camera_id,)
    ).fetchone()
    return int(row[0] if row else 0), int(veh[0] if veh else 0)


def run_ours(
    clip: Clip, bootstrap: str, pg_dsn: str, redis_url: str, env: dict[str, str], logs: Path
) -> dict[str, Any]:
    """Our pipeline on every frame of `clip`, `env` choosing the inference backend; its frames/s and count."""
    run = uuid.uuid4().hex[:8]
    names = {k: f"bench.pipeline.{run}.{k}" for k in _KINDS}
    admin = AdminClient(admin_config(bootstrap))
    big = {"max.message.bytes": str(8 * 1024 * 1024)}
    new = [NewTopic(n, 1 if k in ("cams", "dlq") else 4, 1, config=big) for k, n in names.items()]
    for f in admin.create_topics(new).values():
        f.result(30)
    cam = f"bench-pipeline-{Path(clip.name).stem}-{run}"
    (x1, y1), (x2, y2) = clip.line
    line = {"line_id": "gt", "name": "ground truth", "x1": x1 / clip.width, "y1": y1 / clip.height}
    line |= {"x2": x2 / clip.width, "y2": y2 / clip.height}
    put_camera(bootstrap, camera_config(cam, str(clip.path), target_fps=30.0, lines=[line]), topic=names["cams"])
    base = dict(os.environ, ITS_KAFKA_BOOTSTRAP=bootstrap, PYTHONUNBUFFERED="1") | env
    inf_port, an_port, pr_port = _free_port(), _free_port(), _free_port()
    tmp = logs / "analytics-data"
    import psycopg

    procs = _Procs(logs)
    pg = psycopg.connect(pg_dsn, autocommit=True)  # one connection for the 20 ms polls, not one per poll
    try:
        procs.start(
            "inference",
            ["inference"],
            base
            | {
                "ITS_INFERENCE_FRAMES_TOPIC": names["frames"],
                "ITS_INFERENCE_DETECTIONS_TOPIC": names["det"],
                "ITS_INFERENCE_DLQ_TOPIC": names["dlq"],
                "ITS_INFERENCE_GROUP_ID": f"bench-pipeline-inference-{run}",
                "ITS_INFERENCE_TRANSACTIONAL_ID": f"bench-pipeline-{run}",
                "ITS_INFERENCE_METRICS_PORT": str(inf_port),
            },
        )
        an_env = {"ITS_ANALYTICS_APP_ID": f"bench-pipeline-analytics-{run}", "ITS_ANALYTICS_DATA_DIR": str(tmp)}
        an_env |= {"ITS_ANALYTICS_METRICS_PORT": str(an_port), **analytics_topic_env(names)}
        procs.start("analytics", ["analytics"], base | an_env)
        proj = {f"ITS_PROJECTOR_{k}_TOPIC": "" for k in ("CAMERAS", "CAMERA_STATUS", "SNAPSHOTS")}
        proj |= {"ITS_PROJECTOR_TRAFFIC_STATS_TOPIC": "", "ITS_PROJECTOR_INCIDENTS_TOPIC": ""}
        proj |= {"ITS_PROJECTOR_MOVEMENTS_TOPIC": "", "ITS_PROJECTOR_DLQ_TOPIC": names["dlq"]}
        proj |= {"ITS_PROJECTOR_DETECTIONS_TOPIC": names["det"], "ITS_PROJECTOR_VEHICLE_EVENTS_TOPIC": names["veh"]}
        proj |= {
            "ITS_PROJECTOR_GROUP_ID": f"bench-pipeline-projector-{run}",
            "ITS_PROJECTOR_METRICS_PORT": str(pr_port),
        }
        proj |= {"ITS_PG_DSN": pg_dsn, "ITS_REDIS_URL": redis_url}
        procs.start("projector", ["projector"], base | proj)
        for name, port, metric in (
            ("inference", inf_port, "its_inference_ready"),
            ("analytics", an_port, "its_analytics_ready"),
            ("projector", pr_port, "its_projector_ready"),
        ):
            procs.wait_for(f"{name} ready", lambda p=port, m=metric: metric_value(p, m) == 1, 240)
        ing_env = {"ITS_INGEST_FRAMES_TOPIC": names["frames"], "ITS_INGEST_CAMERA_STATUS_TOPIC": names["status"]}
        ing_env |= {"ITS_INGEST_SNAPSHOTS_TOPIC": "", "ITS_INGEST_FPS": "0", "ITS_INGEST_METRICS_PORT": "0"}
        ingest = procs.start("ingest", ["ingest", "--source", str(clip.path), "--camera-id", cam], base | ing_env)
        seen: list[tuple[float, int, int]] = []  # (time, frames projected, vehicles projected)
        deadline = time.monotonic() + 900
        frames = analysed = -1
        next_scrape = 0.0
        while time.monotonic() < deadline:
            procs.check()
            seen.append((time.time(), *_projected(pg, cam)))
            if frames < 0 and ingest.poll() is not None:
                out = (logs / "ingest.log").read_text().strip().splitlines()
                if ingest.returncode != 0 or not out:
                    raise RuntimeError(f"ingest of {clip.name} failed ({ingest.returncode}); see {logs}")
                frames = int(json.loads(out[-1])["frames"])
            if frames > 0 and analysed < frames and time.monotonic() >= next_scrape:
                # only ends the loop (the finish time is the PostgreSQL polls'): scraped twice a second, since a
                # scrape renders every analytics metric in the process under test
                analysed = int(metric_value(an_port, "its_analytics_frames_total") or 0)
                next_scrape = time.monotonic() + 0.5
            if frames > 0 and analysed >= frames and seen[-1][1] >= frames:
                time.sleep(3.0)  # analytics' last transaction is committed; its vehicles are projected after it
                seen.append((time.time(), *_projected(pg, cam)))
                break
            time.sleep(0.02)
        else:
            raise TimeoutError(f"the pipeline did not project {clip.name} within 900 s; logs in {logs}")
    finally:
        procs.stop()
        pg.close()
    counted = seen[-1][2]
    done = next(t for t, f, v in seen if f >= frames and v >= counted)
    start = _first_timestamp(bootstrap, names["frames"])
    app = f"bench-pipeline-analytics-{run}"
    internal = [f"{app}-camera-state-changelog", f"{app}-__assignor-__leader"]
    for fut in admin.delete_topics([*names.values(), *internal]).values():
        with contextlib.suppress(Exception):
            fut.result(30)
    seconds = done - start
    return {"frames": frames, "seconds": round(seconds, 2), "fps": round(frames / seconds, 1), "count": counted}


def _decoded(path: Path, timer: list[float]) -> Iterator[npt.NDArray[np.uint8]]:
    """Every frame of the clip, decode time added to timer[0]."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            t = time.perf_counter()
            ok, img = cap.read()
            timer[0] += time.perf_counter() - t
            if not ok:
                return
            yield np.asarray(img, np.uint8)
    finally:
        cap.release()


def peer_pipeline(clip: Clip, model_path: str, imgsz: int) -> dict[str, Any]:
    """Ultralytics' ObjectCounter on every frame of `clip` in this process: frames/s over decode + its calls."""
    from bench.peer import count_with_ultralytics

    timer = [0.0]
    frames = [0]

    def counted() -> Iterator[npt.NDArray[np.uint8]]:
        for img in _decoded(clip.path, timer):
            frames[0] += 1
            yield img

    res = count_with_ultralytics(model_path, counted(), clip.line, imgsz=imgsz)
    seconds = timer[0] + res.seconds
    return {"frames": frames[0], "seconds": round(seconds, 2), "fps": round(frames[0] / seconds, 1), "count": res.total}


def pipeline_vs_peer(settings: Any, clip_path: Path, bootstrap: str, logs: Path) -> dict[str, Any]:
    """Ours with `settings`' backend, then the peer, on the clip (listed in its folder's ground_truth.json)."""
    from bench.counting import load_clips
    from deploy.stack.settings import StackSettings

    clip = next((c for c in load_clips(clip_path.parent) if c.path.name == clip_path.name), None)
    if clip is None:
        raise FileNotFoundError(f"{clip_path.name} is not in {clip_path.parent / 'ground_truth.json'}: its line?")
    stack = StackSettings()
    env = {
        "ITS_INFERENCE_BACKEND": settings.backend,
        "ITS_INFERENCE_PRECISION": settings.precision,
        "ITS_INFERENCE_MODEL_PATH": str(settings.model_path),
        "ITS_INFERENCE_IMGSZ": str(settings.imgsz),
        "ITS_INFERENCE_MAX_BATCH": str(settings.max_batch),
    }
    print(
        f"\nend to end on every frame of {clip.name}: ingest -> inference ({settings.backend}) -> analytics -> "
        "projector",
        flush=True,
    )
    ours = run_ours(clip, bootstrap, stack.pg_dsn, stack.redis_url, env, logs)
    print(
        f"  ours: {ours['frames']} frames in {ours['seconds']} s = {ours['fps']} frames/s, {ours['count']} "
        f"counted (hand count {clip.truth})",
        flush=True,
    )
    from inference.settings import default_model_path

    # the peer runs the fp32 ONNX model (Ultralytics loads no OpenVINO IR of ours): the same weights
    peer_model = str(settings.model_path) if str(settings.model_path).endswith(".onnx") else default_model_path()
    peer = peer_pipeline(clip, peer_model, settings.imgsz)
    print(
        f"  Ultralytics ObjectCounter: {peer['frames']} frames in {peer['seconds']} s = {peer['fps']} frames/s, "
        f"{peer['count']} counted",
        flush=True,
    )
    return {
        "clip": clip.name,
        "truth": clip.truth,
        "ours": ours | {"backend": settings.backend, "precision": settings.precision},
        "peer": peer | {"model": Path(peer_model).name},
        "ratio": round(ours["fps"] / peer["fps"], 2),
    }
