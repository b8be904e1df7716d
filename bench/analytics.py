"""`itscam bench analytics`: detection events per second one analytics replica drains from a backlog.

The capacity plan sizes the analytics Deployment by what one `itscam analytics` process keeps up with. This bench
measures it directly instead of deriving it from a per-event wall time measured beside inference:
 1. fresh topics (detections, camera status and the three outputs co-partitioned, cameras, dead letters) and a
    fresh Faust app id, so the consumer group starts at the beginning of an empty log;
 2. N cameras on the cameras topic;
 3. a backlog of N x F DetectionsProduced events, produced in full and flushed before the worker starts, cameras
    interleaved frame by frame as live cameras would be. `--source clips` (the default): the detections YOLO made
    of the shared clips at 10 fps (recorded once, bench/recorded.py), camera i replaying clip i mod 2 on the clip's
    hand-counting line. `--source synthetic`: six lanes of boxes (1280x720, ~V vehicles in view, with jitter) and a
    horizontal line across the middle;
 4. one worker process over them; its Prometheus counter its_analytics_frames_total is sampled every 0.2 s and the
    rate is the frames applied between the last sample that saw none and the one that saw all, over the time
    between them (up to 0.2 s of idle counted: a floor); the process's CPU seconds over the same span give frames
    per CPU-second (a pod requests 1 CPU);
 5. the committed VehicleCounted events on the output topic are counted (read_committed) as a light check that
    the events were really processed (synthetic: beside the crossings its traffic contains);
 6. P95 per event from the worker's its_analytics_process_seconds histogram (interpolated in its buckets); the
    changelog read back: bytes per event, and per camera-second live at 10 fps (a camera with frames in every
    commit interval writes one state per commit: its mean record size / the commit interval); RSS growth per camera.
`--scale 10,100,1000` repeats the run at each camera count (about --scale-events events each) to show how these grow.
Topics, the app's changelog and its data folder are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import write_results

if TYPE_CHECKING:
    from schemas.events import CameraConfig, Detection, DetectionsProduced
# The rest is imported where used, so importing this module stays light.

__all__ = ["Vehicle", "camera_traffic", "main_bench", "run_bench"]

_T0 = datetime(2026, 1, 5, tzinfo=UTC)
_W, _H = 1280, 720
_LINE_Y = 0.5  # normalised; the counting line runs across the whole frame at mid-height
# (class name, COCO id, box width, box height, share of traffic)
_CLASSES = (("car", 2, 90.0, 64.0, 0.80), ("truck", 7, 150.0, 110.0, 0.12), ("bus", 5, 170.0, 120.0, 0.08))
# Six lanes: three down the left half of the frame, three up the right half (x of the lane centre, direction).
_LANES = ((220.0, 1), (380.0, 1), (540.0, 1), (740.0, -1), (900.0, -1), (1060.0, -1))
_MODEL = {
    "name": "yolo11n",
    "version": "8.4",
    "sha256": "ab" * 32,
    "backend": "onnxruntime",
    "precision": "fp32",
    "imgsz": 640,
    "class_names": ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"],
}
_TIMINGS = {
    "queued_ms": 1.0,
    "decode_ms": 2.0,
    "preprocess_ms": 1.0,
    "inference_ms": 20.0,
    "postprocess_ms": 1.0,
    "total_ms": 25.0,
    "batch_size": 8,
}


@dataclass(frozen=True)
class Vehicle:
    """A box of `cls` (an index of _CLASSES) whose centre enters the frame at frame `start` and moves `vy` pixels a
    frame down (> 0) or up (< 0) its lane at x; its base confidence is `conf`."""

    cls: int
    x: float
    vy: float
    start: int
    conf: float

    def center_y(self, frame: int) -> float:
        h = _CLASSES[self.cls][3]
        y0 = -h / 2 if self.vy > 0 else _H + h / 2
        return y0 + (frame - self.start) * self.vy


def _vehicles(frames: int, in_view: int, rng: random.Random) -> list[Vehicle]:
    """Arrivals per lane so that about `in_view` vehicles are in the frame at once, from frame 0 on (vehicles that
    entered before frame 0 are already on their way)."""
    out: list[Vehicle] = []
    for x, direction in _LANES:
        speed = rng.uniform(14.0, 22.0)  # pixels a frame at 10 fps: 3.5-5.5 s to cross a 720-pixel frame
        transit = (_H + 120) / speed
        gap = transit * len(_LANES) / max(in_view, 1)  # frames between two vehicles of this lane
        t = -transit + rng.uniform(0, gap)
        while t < frames:
            cls = rng.choices(range(len(_CLASSES)), weights=[c[4] for c in _CLASSES])[0]
            v = speed * rng.uniform(0.97, 1.03) * direction
            out.append(Vehicle(cls, x + rng.uniform(-15, 15), v, int(t), rng.uniform(0.55, 0.85)))
            t += gap * rng.uniform(0.8, 1.2)
    return out


def camera_traffic(
    camera_id: str, frames: int, in_view: int = 10, seed: int = 0, jitter: float = 3.0
) -> tuple[list[DetectionsProduced], int]:
    """`frames` DetectionsProduced events of one camera (frame_seq 0.., 10 fps) and the number of vehicles whose
    box centre crosses the counting line between the first and the last frame."""
    rng = random.Random(f"{camera_id}-{seed}")
    vehicles = _vehicles(frames, in_view, rng)
    line = _LINE_Y * _H
    crossings = sum(1 for v in vehicles if (v.center_y(0) - line) * (v.center_y(frames - 1) - line) < 0)
    out: list[DetectionsProduced] = []
    for i in range(frames):
        at = _T0 + timedelta(milliseconds=100 * i)
        dets: list[Detection] = []
        for v in vehicles:
            name, class_id, w, h, _share = _CLASSES[v.cls]
            cy = v.center_y(i)
            j = [rng.uniform(-jitter, jitter) for _ in range(4)]
            x1, x2 = max(v.x - w / 2 + j[0], 0.0), min(v.x + w / 2 + j[1], float(_W))
            y1, y2 = max(cy - h / 2 + j[2], 0.0), min(cy + h / 2 + j[3], float(_H))
            if x2 - x1 < 4 or y2 - y1 < 4:  # not (yet, or any more) in the frame
                continue
            conf = min(max(v.conf + rng.uniform(-0.05, 0.05), 0.5), 0.9)
            dets.append(
                {"class_id": class_id, "class_name": name, "confidence": conf, "x1": x1, "y1": y1, "x2": x2, "y2": y2}
            )
        ev = {
            "camera_id": camera_id,
            "frame_seq": i,
            "captured_at": at,
            "produced_at": at + timedelta(milliseconds=60),
            "width": _W,
            "height": _H,
            "model": _MODEL,
            "detections": dets,
            "timings": _TIMINGS,
        }
        out.append(ev)  # type: ignore[arg-type]
    return out, crossings


def _camera(camera_id: str) -> CameraConfig:
    from schemas.cameras import camera_config

    line = {"line_id": "mid", "name": "mid-frame", "x1": 0.0, "y1": _LINE_Y, "x2": 1.0, "y2": _LINE_Y}
    return camera_config(camera_id, f"file:///synthetic/{camera_id}.mp4", target_fps=10.0, lines=[line])


def _produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    from eventbus.config import producer_config

    # Uncompressed, like the inference stage's producer: the worker's client (aiokafka) has no lz4 codec here.
    p = Producer(producer_config(bootstrap, **{"linger.ms": 50, "batch.size": 1_000_000}))
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for topic, key, value in records:
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    if p.flush(120) or errors:
        raise RuntimeError(
            f"Kafka at {bootstrap} did not acknowledge the bench records ({errors[0] if errors else 'timed out'})."
        )


@dataclass
class _Drain:
    applied: float  # all frames the worker applied
    frames: float  # applied between the first and the last sample
    seconds: float
    cpu_seconds: float
    rss_max: int
    rss_ready: int  # before the first frame
    worker_mean_ms: float | None


class _Proc:
    """CPU seconds and RSS of a process from /proc (Linux), without psutil, which only the export extra installs."""

    _tick = os.sysconf("SC_CLK_TCK")
    _page = os.sysconf("SC_PAGE_SIZE")

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime

    def rss(self) -> int:
        return int(Path(f"/proc/{self.pid}/statm").read_text().split()[1]) * self._page


def _drain(proc: subprocess.Popen[bytes], port: int, total: int, timeout: float, log: Path) -> _Drain:
    """Sample the worker every 0.2 s from its first applied frame until it has applied `total`."""
    from itscam.demo import metric_value

    ps = _Proc(proc.pid)

    def alive() -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"analytics exited with {proc.returncode} before draining the backlog; see {log}")

    deadline = time.monotonic() + 120
    while metric_value(port, "its_analytics_ready") != 1:
        alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"analytics was not ready within 120 s; see {log}")
        time.sleep(0.2)
    first: tuple[float, float, float] | None = None
    cpu0 = ps.cpu_seconds()
    # From when the worker said it was ready, unless a later sample still saw no frame applied (a small backlog may
    # be drained before the first sample).
    idle: tuple[float, float, float] | None = (time.monotonic(), 0.0, cpu0)
    rss = ready_rss = ps.rss()
    deadline = time.monotonic() + timeout
    while True:
        alive()
        done = metric_value(port, "its_analytics_frames_total") or 0.0
        now = time.monotonic()
        cpu = ps.cpu_seconds()
        rss = max(rss, ps.rss())
        if done == 0:
            idle = (now, done, cpu)  # the last sample before any frame was applied
        elif first is None:
            # From the last sample that saw none (a small backlog may be drained between two samples), else this one.
            first = idle or (now, done, cpu)
        if done >= total and first is not None:
            count = metric_value(port, "its_analytics_process_seconds_count") or 0.0
            mean = (metric_value(port, "its_analytics_process_seconds_sum") or 0.0) / count * 1000 if count else None
            return _Drain(done, done - first[1], now - first[0], cpu - first[2], rss, ready_rss, mean)
        if now > deadline:
            raise TimeoutError(
                f"analytics applied {done:.0f} of {total} frames in {timeout:.0f} s; skipped frames are counted by "
                f"its_analytics_frames_skipped_total; see {log} (or raise --timeout, lower --cameras)"
            )
        time.sleep(0.2)


def _p95_ms(port: int) -> float | None:
    """P95 of its_analytics_process_seconds, interpolated linearly within its histogram bucket."""
    from itscam.demo_wait import scrape

    samples = scrape(port) or {}
    buckets = sorted(
        (float(k.split('le="')[1].split('"')[0]), v)
        for k, v in samples.items()
        if k.startswith("its_analytics_process_seconds_bucket{")
    )
    if not buckets or buckets[-1][1] <= 0:
        return None
    want = 0.95 * buckets[-1][1]
    lo_le, lo_n = 0.0, 0.0
    for le, n in buckets:
        if n >= want:
            if le == float("inf"):
                return lo_le * 1000
            return (lo_le + (le - lo_le) * (want - lo_n) / max(n - lo_n, 1e-9)) * 1000
        lo_le, lo_n = le, n
    return None


def run_bench(
    bootstrap: str,
    cameras: int = 100,
    frames: int = 300,
    vehicles: int = 10,
    partitions: int = 12,
    timeout: float = 300.0,
    log: Any = print,
    recorded: dict[str, list[bytes]] | None = None,
    clips: list[Any] | None = None,
) -> dict[str, Any]:
    """Fill fresh topics with the backlog, drain it with one `itscam analytics` process, return the figures.
    With `recorded` (clip name -> payloads) and its `clips`, the cameras replay those; else synthetic traffic."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from bench.counting import _free_port, _Procs, analytics_topic_env, read_topic
    from eventbus.config import admin_config
    from schemas import codec
    from schemas.topics import CAMERAS, DLQ
    from streams.analytics import AnalyticsSettings

    run = uuid.uuid4().hex[:8]
    kinds = ("det", "status", "veh", "stats", "inc", "mov", "cams", "dlq")
    names = {k: f"bench.analytics.{run}.{k}" for k in kinds}
    counts = {k: partitions for k in kinds} | {"cams": CAMERAS.partitions, "dlq": DLQ.partitions}
    admin = AdminClient(admin_config(bootstrap))
    app_id = f"bench-analytics-{run}"
    internal = [f"{app_id}-camera-state-changelog", f"{app_id}-__assignor-__leader"]
    tmp = Path(tempfile.mkdtemp(prefix="its-bench-analytics-"))
    for f in admin.create_topics([NewTopic(n, counts[k], 1) for k, n in names.items()]).values():
        f.result(30)
    procs = _Procs(tmp / "logs")
    try:
        t0 = time.perf_counter()
        ids = [f"bench-an-{run}-{i:04d}" for i in range(cameras)]
        cfg_enc, det_enc = codec("CameraConfig").encode, codec("DetectionsProduced").encode
        per_camera: dict[str, list[bytes]] = {}
        crossings: int | None = None
        detections = 0
        if recorded is not None and clips:
            from bench.recorded import clip_camera, renamed

            by_name = {c.name: c for c in clips}
            names_ = sorted(recorded)
            cfgs = {c: clip_camera(c, by_name[names_[i % len(names_)]]) for i, c in enumerate(ids)}
            _produce(bootstrap, [(names["cams"], c.encode(), cfg_enc(cfg)) for c, cfg in cfgs.items()])
            dec = codec("DetectionsProduced").decode
            for i, c in enumerate(ids):
                src = recorded[names_[i % len(names_)]][:frames]
                per_camera[c] = renamed(src, c)
                detections += sum(len(dec(p)["detections"]) for p in src)
        else:
            _produce(bootstrap, [(names["cams"], c.encode(), cfg_enc(_camera(c))) for c in ids])
            crossings = 0
            for c in ids:
                events, crossed = camera_traffic(c, frames, vehicles)
                per_camera[c] = [det_enc(e) for e in events]
                crossings += crossed
                detections += sum(len(e["detections"]) for e in events)
        # Frame order within a camera; cameras interleaved, as live cameras would be (a clip may end sooner).
        longest = max(len(v) for v in per_camera.values())
        backlog = [
            (names["det"], c.encode(), per_camera[c][i]) for i in range(longest) for c in ids if i < len(per_camera[c])
        ]
        _produce(bootstrap, backlog)
        total = len(backlog)
        log(
            f"backlog: {cameras} cameras x {total / cameras:.0f} frames = {total:,} events "
            f"({detections / total:.1f} detections per frame) on {names['det']} ({partitions} partitions) in "
            f"{time.perf_counter() - t0:.1f} s"
        )

        port = _free_port()
        env = dict(os.environ, ITS_KAFKA_BOOTSTRAP=bootstrap, PYTHONUNBUFFERED="1") | {
            "ITS_ANALYTICS_APP_ID": app_id,
            "ITS_ANALYTICS_DATA_DIR": str(tmp / "data"),
            "ITS_ANALYTICS_METRICS_PORT": str(port),
            "ITS_ANALYTICS_METRICS_HOST": "127.0.0.1",
            **analytics_topic_env(names),
        }
        proc = procs.start("analytics", ["analytics"], env)
        d = _drain(proc, port, total, timeout, procs.logs / "analytics.log")
        time.sleep(2.0)  # the last transaction commits within the commit interval (1 s)
        p95 = _p95_ms(port)
        procs.stop()
        vehicle_events = sum(1 for _k, v in read_topic(bootstrap, names["veh"]) if v is not None)
        dead_letters = sum(1 for _k, v in read_topic(bootstrap, names["dlq"], idle=1.0) if v is not None)
        changelog = read_topic(bootstrap, internal[0], idle=1.0)
    finally:
        procs.stop()
        existing = set(admin.list_topics(timeout=10).topics)
        for fut in admin.delete_topics([t for t in [*names.values(), *internal] if t in existing]).values():
            with contextlib.suppress(Exception):
                fut.result(30)
    shutil.rmtree(tmp, ignore_errors=True)  # kept, with the worker's log, when the run failed
    states = [len(v) for k, v in changelog if v is not None and k is not None and k[:1] != b"\x00"]
    changelog_bytes = sum(len(v or b"") + len(k or b"") for k, v in changelog)
    commit_s = AnalyticsSettings().commit_interval_s
    return {
        "source": "clips" if recorded is not None else "synthetic",
        "cameras": cameras,
        "frames_per_camera": round(total / cameras, 1),
        "events": total,
        "detections_per_frame": round(detections / total, 2),
        "partitions": partitions,
        "events_applied": int(d.applied),
        "frames_measured": int(d.frames),  # applied between the first and the last sample
        "drain_seconds": round(d.seconds, 2),
        "frames_per_s": round(d.frames / max(d.seconds, 1e-3), 1),
        "cpu_seconds": round(d.cpu_seconds, 2),
        "frames_per_cpu_second": round(d.frames / d.cpu_seconds, 1) if d.cpu_seconds else None,
        "cpu_utilisation": round(d.cpu_seconds / max(d.seconds, 1e-3), 2),
        "rss_mib_max": round(d.rss_max / 2**20, 1),
        "worker_mean_ms": round(d.worker_mean_ms, 3) if d.worker_mean_ms is not None else None,
        "p95_ms": round(p95, 3) if p95 is not None else None,
        "rss_mib_at_ready": round(d.rss_ready / 2**20, 1),
        "rss_kib_per_camera": round((d.rss_max - d.rss_ready) / 1024 / cameras, 1),
        "changelog_records": len(changelog),
        "state_records": len(states),
        "state_record_bytes_mean": round(sum(states) / len(states), 1) if states else None,
        "changelog_bytes_per_event": round(changelog_bytes / total, 1),
        "changelog_bytes_per_camera_s": round(sum(states) / len(states) / commit_s, 1) if states else None,
        "commit_interval_s": commit_s,
        "vehicle_events": vehicle_events,
        "synthetic_crossings": crossings,
        "dead_letters": dead_letters,
    }


def _source(args: Any, bootstrap: str) -> tuple[dict[str, list[bytes]] | None, list[Any] | None]:
    if args.source == "synthetic":
        return None, None
    from bench.counting import load_clips
    from bench.recorded import recorded_detections
    from deploy.stack.settings import StackSettings
    from inference import InferenceSettings

    model = args.model or InferenceSettings().model_path
    data = Path(args.data) if args.data else Path(model).parents[1] / "data"
    clips = load_clips(data)
    return recorded_detections(clips, bootstrap, model, StackSettings().home / "cache"), clips


def _line(r: dict[str, Any]) -> str:
    return (
        f"analytics: {r['cameras']} cameras x {r['frames_per_camera']} frames = {r['events_applied']:,} events "
        f"drained in {r['drain_seconds']} s = {r['frames_per_s']} frames/s per replica (CPU {r['cpu_seconds']} s, "
        f"{r['frames_per_cpu_second']} frames per CPU-second); P95 {r['p95_ms']} ms per event; changelog "
        f"{r['changelog_bytes_per_event']} B per event, {r['changelog_bytes_per_camera_s']} B/s per camera at 10 fps; "
        f"RSS {r['rss_kib_per_camera']} KiB per camera; vehicle events {r['vehicle_events']}"
    )


def main_bench(args: Any) -> int:
    from eventbus.settings import DeployableSettings

    bootstrap = args.bootstrap or DeployableSettings().kafka_bootstrap
    recorded, clips = _source(args, bootstrap)
    bench = {"vehicles": args.vehicles, "partitions": args.partitions, "timeout": args.timeout}
    r = run_bench(bootstrap, args.cameras, args.camera_frames, recorded=recorded, clips=clips, **bench)
    print(_line(r), flush=True)
    scaling = []
    for n in [int(x) for x in args.scale.split(",")] if args.scale else []:
        frames = max(20, args.scale_events // n)
        rs = run_bench(bootstrap, n, frames, recorded=recorded, clips=clips, **bench, log=lambda _m: None)
        print(_line(rs), flush=True)
        keys = ("cameras", "frames_per_camera", "events_applied", "frames_per_s", "frames_per_cpu_second", "p95_ms")
        more = ("changelog_bytes_per_event", "changelog_bytes_per_camera_s", "rss_mib_max", "rss_kib_per_camera")
        scaling.append({k: rs[k] for k in (*keys, *more)})
    out = {
        **r,
        "scaling": scaling,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "note": "one `itscam analytics` process draining a backlog on this machine, the local Kafka broker on the "
        "same cores; frames_per_cpu_second is the figure for a pod with 1 CPU",
    }
    write_results(args.json, out)
    return 0
