"""`itscam bench counting`: line-crossing accuracy of the real pipeline against hand counts, beside a peer.

For each clip in a data folder (clips plus a ground_truth.json in the format of ../shared/data's), at one sampling
fps and model size: every stage runs as its own process over fresh topics of the local Kafka (ingest paced in real
time like a camera -> inference -> analytics), the clip's counting line from the ground truth is the camera's line,
and the VehicleCounted events read back (read_committed) are our count. The peer, Ultralytics' ObjectCounter with the
same model and line, counts the very frames the pipeline consumed (read back from the frames topic). Analytics
time per detection event is measured by replaying the committed detection events through the same per-camera logic
(tracking, counting, incidents, windows and the state snapshot the worker writes), plus the worker's own mean from
its Prometheus histogram.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.report import write_results
from eventbus.config import admin_config
from eventbus.registry import put_camera
from itscam.demo import metric_value
from schemas import codec
from schemas.cameras import camera_config

__all__ = ["Clip", "PipelineRun", "analytics_topic_env", "load_clips", "main_bench", "run_pipeline"]

_DIRECTIONS = ("up", "down", "left", "right")


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    width: int
    height: int
    line: tuple[tuple[float, float], tuple[float, float]]
    truth: int
    truth_by_direction: dict[str, int]


def load_clips(data_dir: Path) -> list[Clip]:
    """The clips of `data_dir/ground_truth.json` (the format of ../shared/data: per clip width, height, line p0/p1
    in pixels, counts.total and counts.by_direction)."""
    gt_path = data_dir / "ground_truth.json"
    if not gt_path.is_file():
        raise FileNotFoundError(f"{gt_path} does not exist: --data needs clips and a ground_truth.json beside them.")
    gt = json.loads(gt_path.read_text())
    clips = []
    for name, c in gt["clips"].items():
        path = data_dir / name
        if not path.is_file():
            raise FileNotFoundError(f"{gt_path} lists {name}, but {path} does not exist.")
        by_dir = {d: int(c["counts"].get("by_direction", {}).get(d, 0)) for d in _DIRECTIONS}
        (x0, y0), (x1, y1) = c["line"]["p0"], c["line"]["p1"]
        line = ((float(x0), float(y0)), (float(x1), float(y1)))
        clips.append(Clip(name, path, int(c["width"]), int(c["height"]), line, int(c["counts"]["total"]), by_dir))
    return clips


@dataclass
class PipelineRun:
    fps: float
    imgsz: int
    ours: dict[str, int]  # clip -> crossings
    ours_by_direction: dict[str, dict[str, int]]
    frames: dict[str, int]  # clip -> frames through the pipeline
    detections: list[bytes]  # committed DetectionsProduced payloads, for the latency replay
    jpegs: dict[str, list[bytes]]  # clip -> the frames the pipeline consumed, in order
    worker_mean_ms: float | None
    wall_s: float
    configs: dict[str, Any]  # camera id -> CameraConfig
    movements: dict[str, dict[str, int]]  # clip -> "origin>destination" -> turning movements (approach_zones)


def analytics_topic_env(names: dict[str, str]) -> dict[str, str]:
    """`itscam analytics`' topic settings for a bench run's fresh topics (keys det, status, cams, veh, stats, inc,
    mov, dlq)."""
    return {
        "ITS_ANALYTICS_DETECTIONS_TOPIC": names["det"],
        "ITS_ANALYTICS_CAMERA_STATUS_TOPIC": names["status"],
        "ITS_ANALYTICS_CAMERAS_TOPIC": names["cams"],
        "ITS_ANALYTICS_VEHICLE_EVENTS_TOPIC": names["veh"],
        "ITS_ANALYTICS_TRAFFIC_STATS_TOPIC": names["stats"],
        "ITS_ANALYTICS_INCIDENTS_TOPIC": names["inc"],
        "ITS_ANALYTICS_MOVEMENTS_TOPIC": names["mov"],
        "ITS_ANALYTICS_DLQ_TOPIC": names["dlq"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_topic(bootstrap: str, topic: str, idle: float = 3.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed record of `topic` (key, value), reading until `idle` seconds pass without one."""
    from confluent_kafka import Consumer

    from eventbus.config import consumer_config

    c = Consumer(consumer_config(bootstrap, f"bench-read-{uuid.uuid4().hex[:8]}"))
    c.subscribe([topic])
    out: list[tuple[bytes | None, bytes | None]] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle:
            for m in c.consume(1000, 0.5):
                if m.error():
                    continue
                out.append((m.key(), m.value()))
                last = time.monotonic()
    finally:
        c.close()
    return out


class _Procs:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("wb") as out:
            p = subprocess.Popen([sys.executable, "-m", "itscam", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs[name] = p
        return p

    def check(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None and p.returncode != 0 and not name.startswith("ingest"):
                raise RuntimeError(f"{name} exited with {p.returncode}; see {self.logs / (name + '.log')}")

    def wait_for(self, what: str, pred: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            if pred():
                return
            time.sleep(0.25)
        raise TimeoutError(f"{what} did not happen within {timeout:.0f} s; logs in {self.logs}")

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def approach_zones(c: Clip) -> list[dict[str, Any]]:
    """Two approach zones either side of a clip's (horizontal) counting line: "north" above it, as wide as the line,
    and "south" below it, from the line's ends out to the picture's bottom corners: the lanes the line spans widen
    towards the camera in perspective, so a vehicle can be beside the line's end below it and still be on them. A
    vehicle that crosses the line moves from one zone into the other."""
    (x1, y1), (x2, y2) = c.line
    left, right = min(x1, x2) / c.width, max(x1, x2) / c.width
    y = (y1 + y2) / 2 / c.height

    def zone(zone_id: str, pts: list[tuple[float, float]]) -> dict[str, Any]:
        points = [{"x": px, "y": py} for px, py in pts]
        return {"zone_id": zone_id, "name": zone_id.title(), "kind": "approach", "points": points}

    return [
        zone("north", [(left, 0.0), (right, 0.0), (right, y), (left, y)]),
        zone("south", [(left, y), (right, y), (1.0, 1.0), (0.0, 1.0)]),
    ]


def run_pipeline(
    clips: list[Clip],
    bootstrap: str,
    fps: float,
    imgsz: int,
    model_path: str | None = None,
    logs: Path | None = None,
    with_approaches: bool = False,
) -> PipelineRun:
    """Every stage as its own process over fresh topics; all clips stream at once, one camera each. With
    `with_approaches` every camera also gets approach zones either side of its line (`approach_zones`)."""
    run = uuid.uuid4().hex[:8]
    names = {
        k: f"bench.counting.{run}.{k}" for k in ("frames", "det", "status", "veh", "stats", "inc", "mov", "cams", "dlq")
    }
    admin = AdminClient(admin_config(bootstrap))
    new = [
        NewTopic(n, 1 if k in ("cams", "dlq") else 4, 1, config={"max.message.bytes": str(8 * 1024 * 1024)})
        for k, n in names.items()
    ]
    for f in admin.create_topics(new).values():
        f.result(30)
    cams = {c.name: f"bench-{Path(c.name).stem}-{run}" for c in clips}
    configs: dict[str, Any] = {}
    for c in clips:
        (x1, y1), (x2, y2) = c.line
        line = {"line_id": "gt", "name": "ground truth", "x1": x1 / c.width, "y1": y1 / c.height}
        line |= {"x2": x2 / c.width, "y2": y2 / c.height}
        zones = approach_zones(c) if with_approaches else []
        cfg = camera_config(cams[c.name], str(c.path), target_fps=fps or 30.0, lines=[line], zones=zones)
        put_camera(bootstrap, cfg, topic=names["cams"])
        configs[cfg["camera_id"]] = cfg
    base = dict(os.environ, ITS_KAFKA_BOOTSTRAP=bootstrap, PYTHONUNBUFFERED="1")
    inf_port, an_port = _free_port(), _free_port()
    inf_env = base | {
        "ITS_INFERENCE_FRAMES_TOPIC": names["frames"],
        "ITS_INFERENCE_DETECTIONS_TOPIC": names["det"],
        "ITS_INFERENCE_DLQ_TOPIC": names["dlq"],
        "ITS_INFERENCE_GROUP_ID": f"bench-inference-{run}",
        "ITS_INFERENCE_TRANSACTIONAL_ID": f"bench-inference-{run}",
        "ITS_INFERENCE_IMGSZ": str(imgsz),
        "ITS_INFERENCE_METRICS_PORT": str(inf_port),
    }
    if model_path:
        inf_env["ITS_INFERENCE_MODEL_PATH"] = model_path
    tmp = Path(tempfile.mkdtemp(prefix="its-bench-counting-"))
    an_env = base | {
        "ITS_ANALYTICS_APP_ID": f"bench-analytics-{run}",
        "ITS_ANALYTICS_DATA_DIR": str(tmp),
        "ITS_ANALYTICS_METRICS_PORT": str(an_port),
        **analytics_topic_env(names),
    }
    ing_env = base | {
        "ITS_INGEST_FRAMES_TOPIC": names["frames"],
        "ITS_INGEST_CAMERA_STATUS_TOPIC": names["status"],
        "ITS_INGEST_SNAPSHOTS_TOPIC": "",
        "ITS_INGEST_FPS": str(fps),
        "ITS_INGEST_METRICS_PORT": "0",
    }
    procs = _Procs(logs or tmp / "logs")
    started = time.monotonic()
    try:
        procs.start("inference", ["inference"], inf_env)
        procs.start("analytics", ["analytics"], an_env)
        procs.wait_for("inference ready", lambda: metric_value(inf_port, "its_inference_ready") == 1, 180)
        procs.wait_for("analytics ready", lambda: metric_value(an_port, "its_analytics_ready") == 1, 120)
        ingests = {
            c.name: procs.start(
                f"ingest-{Path(c.name).stem}",
                ["ingest", "--source", str(c.path), "--camera-id", cams[c.name], "--realtime"],
                ing_env,
            )
            for c in clips
        }
        procs.wait_for("every clip streamed", lambda: all(p.poll() is not None for p in ingests.values()), 1800)
        frames: dict[str, int] = {}
        for c in clips:
            p = ingests[c.name]
            out = (procs.logs / f"ingest-{Path(c.name).stem}.log").read_text().strip().splitlines()
            if p.returncode != 0 or not out:
                raise RuntimeError(f"ingest of {c.name} failed ({p.returncode}); see {procs.logs}")
            frames[c.name] = int(json.loads(out[-1])["frames"])
        total = sum(frames.values())
        procs.wait_for(
            f"analytics applied all {total} frames",
            lambda: (metric_value(an_port, "its_analytics_frames_total") or 0) >= total,
            1800,
        )
        count = metric_value(an_port, "its_analytics_process_seconds_count") or 0
        worker_mean = (
            (metric_value(an_port, "its_analytics_process_seconds_sum") or 0) / count * 1000 if count else None
        )
        time.sleep(2.0)  # the last transaction commits within the commit interval (1 s)
    finally:
        procs.stop()
    wall = time.monotonic() - started
    ours: dict[str, int] = {}
    by_dir: dict[str, dict[str, int]] = {}
    events = [codec("VehicleCounted").decode(v) for _k, v in read_topic(bootstrap, names["veh"]) if v is not None]
    for c in clips:
        mine = [e for e in events if e["camera_id"] == cams[c.name]]
        ours[c.name] = len(mine)
        tally = Counter(e["motion"].lower() for e in mine)
        by_dir[c.name] = {d: tally.get(d, 0) for d in _DIRECTIONS}
    moves = [codec("TurningMovement").decode(v) for _k, v in read_topic(bootstrap, names["mov"]) if v is not None]
    movements = {
        c.name: dict(
            Counter(
                f"{m['origin_zone_id']}>{m['destination_zone_id']}" for m in moves if m["camera_id"] == cams[c.name]
            )
        )
        for c in clips
    }
    seen: dict[str, list[tuple[int, bytes]]] = {c.name: [] for c in clips}
    by_cam = {v: k for k, v in cams.items()}
    for _k, v in read_topic(bootstrap, names["frames"]):
        frame = codec("FrameCaptured").decode(v) if v is not None else None
        if frame is not None and frame["camera_id"] in by_cam:
            seen[by_cam[frame["camera_id"]]].append((frame["frame_seq"], frame["image"]))
    ordered = {k: [img for _seq, img in sorted(v, key=lambda x: x[0])] for k, v in seen.items()}
    dets = [v for _k, v in read_topic(bootstrap, names["det"]) if v is not None]
    app_id = an_env["ITS_ANALYTICS_APP_ID"]
    internal = [f"{app_id}-camera-state-changelog", f"{app_id}-__assignor-__leader"]
    for fut in admin.delete_topics([*names.values(), *internal]).values():
        with contextlib.suppress(Exception):
            fut.result(30)
    return PipelineRun(fps, imgsz, ours, by_dir, frames, dets, ordered, worker_mean, wall, configs, movements)


def replay_latency(run: PipelineRun) -> tuple[float, float, int]:
    """P50 and P95 milliseconds of applying one detection event to its camera's state and snapshotting the state
    (what the analytics agent does per event, without Kafka), over the run's committed detection events."""
    from streams.analytics import AnalyticsSettings, CameraAnalytics
    from streams.analytics.app import dump_state

    params = AnalyticsSettings().params()
    states: dict[str, CameraAnalytics] = {}
    times = []
    for payload in run.detections:
        ev = codec("DetectionsProduced").decode(payload)
        cfg = run.configs.get(ev["camera_id"])
        if cfg is None:
            continue
        st = states.setdefault(ev["camera_id"], CameraAnalytics(ev["camera_id"], params))
        t0 = time.perf_counter()
        if st.classify(ev) == "ok":
            st.process(ev, cfg)
            dump_state(st)
        times.append((time.perf_counter() - t0) * 1000)
    if not times:
        return 0.0, 0.0, 0
    return float(np.percentile(times, 50)), float(np.percentile(times, 95)), len(times)


def peer_counts(run: PipelineRun, clips: list[Clip], model_path: str) -> dict[str, Any]:
    """Ultralytics' ObjectCounter on the frames the pipeline consumed, same model, size and line."""
    import cv2

    from bench.peer import count_with_ultralytics

    out = {}
    for c in clips:
        frames: list[npt.NDArray[Any]] = []
        for jpeg in run.jpegs[c.name]:
            img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if img is not None:
                frames.append(img)
        out[c.name] = count_with_ultralytics(model_path, frames, c.line, imgsz=run.imgsz)
    return out


def _fps_label(fps: float) -> str:
    return "full" if fps == 0 else f"{fps:g}"


def measure(clips: list[Clip], bootstrap: str, fps: float, imgsz: int, model_path: str, peer: bool) -> dict[str, Any]:
    """One pipeline run at (fps, imgsz) with the peer on the same frames; per-clip rows and latency figures."""
    run = run_pipeline(clips, bootstrap, fps, imgsz, model_path)
    p50, p95, n = replay_latency(run)
    peers = peer_counts(run, clips, model_path) if peer else {}
    rows = []
    for c in clips:
        pc = peers.get(c.name)
        rows.append(
            {
                "clip": c.name,
                "fps": _fps_label(fps),
                "imgsz": imgsz,
                "frames": run.frames[c.name],
                "ours": run.ours[c.name],
                "truth": c.truth,
                "peer": pc.total if pc else None,
                "ours_by_direction": run.ours_by_direction[c.name],
                "truth_by_direction": c.truth_by_direction,
                "peer_by_direction": pc.by_direction if pc else None,
                "ours_error_pct": round(100 * (run.ours[c.name] - c.truth) / c.truth, 1) if c.truth else None,
                "peer_error_pct": round(100 * (pc.total - c.truth) / c.truth, 1) if pc and c.truth else None,
            }
        )
    return {
        "fps": _fps_label(fps),
        "imgsz": imgsz,
        "clips": rows,
        "analytics_p50_ms": round(p50, 3),
        "analytics_p95_ms": round(p95, 3),
        "analytics_events": n,
        "analytics_worker_mean_ms": round(run.worker_mean_ms, 3) if run.worker_mean_ms else None,
        "pipeline_wall_s": round(run.wall_s, 1),
    }


def _print(result: dict[str, Any]) -> None:
    print(f"\nsampling {result['fps']} fps, imgsz {result['imgsz']} (pipeline {result['pipeline_wall_s']} s)")
    print(f"  {'clip':34} {'frames':>6} {'ours':>5} {'truth':>5} {'peer':>5}  ours by direction")
    for r in result["clips"]:
        dirs = " ".join(f"{d} {n}" for d, n in r["ours_by_direction"].items() if n or r["truth_by_direction"][d])
        peer = "-" if r["peer"] is None else str(r["peer"])
        print(f"  {r['clip']:34} {r['frames']:6d} {r['ours']:5d} {r['truth']:5d} {peer:>5}  {dirs}")
    print(
        f"  analytics per detection event: P50 {result['analytics_p50_ms']:.2f} ms, P95 "
        f"{result['analytics_p95_ms']:.2f} ms over {result['analytics_events']} events (replay); worker mean "
        f"{result['analytics_worker_mean_ms']} ms"
    )


def main_bench(args: Any) -> int:
    from eventbus.settings import DeployableSettings
    from inference import InferenceSettings

    bootstrap = args.bootstrap or DeployableSettings().kafka_bootstrap
    model_path = args.model or InferenceSettings().model_path
    data = Path(args.data) if args.data else Path(model_path).parents[1] / "data"
    clips = load_clips(data)
    grid = [(args.fps, args.imgsz)]
    if args.sweep:
        grid += [(f, z) for z in (320, 480, 640) for f in (5.0, 10.0, 15.0, 0.0) if (f, z) != (args.fps, args.imgsz)]
    results = []
    for fps, imgsz in grid:
        res = measure(clips, bootstrap, fps, imgsz, model_path, peer=not args.no_peer)
        _print(res)
        results.append(res)
    default = results[0]
    conditions = None
    if args.conditions:
        from bench.conditions import run_conditions

        conditions = run_conditions(args, clips, bootstrap, model_path, default)
    out = {
        "clips": default["clips"],
        "analytics_p50_ms": default["analytics_p50_ms"],
        "analytics_p95_ms": default["analytics_p95_ms"],
        "analytics_worker_mean_ms": default["analytics_worker_mean_ms"],
        "data": str(data),
        "model": model_path,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_cores": os.cpu_count(),
        "sweep": results[1:],
    }
    if conditions is not None:
        out["conditions"] = conditions
    write_results(args.json, out)
    return 0
