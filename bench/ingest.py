"""`itscam bench ingest`: how many camera streams one worker sustains, and a 1,000-camera fleet through one
worker process into the real Kafka. Everything goes through the production reader, sampler, encoder pool and
producer; figures are measured in this run and written as JSON.

- capacity: the highway clip looped as live 720p H.264 cameras (paced at 29.97 fps), sampled at each fps, decoding
  every frame vs key frames only (for key frames only, the clip is re-encoded with a key frame every sampling period,
  as operators configure cameras for it). A count of streams is sustained when, at the end of the measuring window,
  no reader trails its camera's clock by more than 1 s and, over it, the streams together captured >= 90 % of their
  target frames (less one frame of phase per stream) and < 2 % of frames were dropped.
- fleet: N cameras (default 1,000) registered on a registry topic, read by one `IngestFleet` in a child process
  for S seconds; each camera is a looped file of pre-encoded 640x360 JPEG frames at 2 fps sampled to 1 fps (the
  JPEG passes through untouched, like an MJPEG camera's). Reports frames/s, frames lost beyond the drop policy,
  CPU and RSS over time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.report import write_results
from eventbus.config import admin_config, client_config

__all__ = ["run_bench"]

_SOURCE_FPS = 30000 / 1001


@dataclass(frozen=True)
class BenchConfig:
    bootstrap: str
    clip: Path
    work: Path
    capacity_fps: tuple[float, ...] = (1.0, 5.0, 10.0)
    trial_seconds: float = 8.0
    warmup_seconds: float = 3.0
    max_streams: int = 256
    fleet_cameras: int = 1000
    fleet_fps: float = 1.0
    fleet_seconds: float = 60.0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class _Topics:
    """Bench topics, deleted at the end (a fleet run writes gigabytes)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient(admin_config(bootstrap))
        self.made: list[str] = []

    def make(self, prefix: str, partitions: int) -> str:
        name = f"bench.{prefix}.{uuid.uuid4().hex[:8]}"
        cfg = {"max.message.bytes": str(8 * 1024 * 1024), "retention.ms": str(3600 * 1000)}
        self.admin.create_topics([NewTopic(name, partitions, 1, config=cfg)])[name].result(30)
        self.made.append(name)
        return name

    def count(self, topic: str) -> int:
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer(client_config(self.bootstrap, **{"group.id": "bench-count"}))
        try:
            md = c.list_topics(topic, timeout=10).topics[topic]
            return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions)
        finally:
            c.close()

    def drop(self) -> None:
        if self.made:
            for fut in self.admin.delete_topics(self.made, request_timeout=60).values():
                fut.result(60)


# -- capacity -----------------------------------------------------------------------------------------------
def _trial(cfg: BenchConfig, clip: Path, n: int, fps: float, decode: str, topics: dict[str, str]) -> dict[str, Any]:
    from schemas.cameras import camera_config
    from streams.ingest.camera import CameraRunner, RunnerContext
    from streams.ingest.encoder import EncoderPool
    from streams.ingest.producer import FrameProducer

    producer = FrameProducer(cfg.bootstrap, frames_topic=topics["frames"])
    pool = EncoderPool(os.cpu_count() or 1)
    ctx = RunnerContext(producer, pool, topics["frames"], topics["status"], "bench", status_window_s=5.0)
    runners = [
        CameraRunner(
            camera_config(f"cap-{i}", str(clip), target_fps=fps, loop=True, decode=decode, max_width=0, max_height=0),
            ctx,
        )
        for i in range(n)
    ]
    try:
        for i, r in enumerate(runners):  # cameras are not in phase with each other
            r.start()
            time.sleep(min(1.0 / n, 0.05) if i else 0)
        time.sleep(cfg.warmup_seconds)
        c0 = [r.captured for r in runners]
        d0 = sum(r.dropped for r in runners)
        cpu0, t0 = _cpu_s(), time.monotonic()
        time.sleep(cfg.trial_seconds)
        took = time.monotonic() - t0
        rates = [(r.captured - c) / took for r, c in zip(runners, c0, strict=True)]
        behind = max(r.stats.behind_s for r in runners)
        dropped = sum(r.dropped for r in runners) - d0
        cpu = (_cpu_s() - cpu0) / took * 100
    finally:
        for r in runners:
            r.stop()
        for r in runners:
            r.join(10)
        pool.close()
        producer.close(30)
    captured = sum(rates) * took
    # Sustained: no reader trails its camera's clock by more than a second (a reader that cannot keep up falls
    # further behind every second), nearly every sampled frame arrived, and few were dropped by the encoder.
    # (At 1 fps a window holds few frames: allow each stream one frame of phase.)
    ok = behind <= 1.0 and captured >= 0.9 * n * fps * took - n and dropped <= 0.02 * max(captured, 1)
    return {
        "streams": n,
        "ok": ok,
        "behind_s": behind,
        "fps_min": min(rates),
        "fps_total": sum(rates),
        "dropped": dropped,
        "cpu": cpu,
    }


def _capacity(cfg: BenchConfig, clip: Path, fps: float, decode: str, topics: dict[str, str]) -> dict[str, Any]:
    trials: list[dict[str, Any]] = []

    def ok(n: int) -> bool:
        t = _trial(cfg, clip, n, fps, decode, topics)
        trials.append(t)
        print(
            f"  {decode:9} {fps:4g} fps  {n:4d} streams: {'ok  ' if t['ok'] else 'FAIL'} "
            f"behind {t['behind_s']:.2f} s, min {t['fps_min']:.2f} fps/stream, total {t['fps_total']:.1f} fps, "
            f"dropped {t['dropped']}, "
            f"cpu {t['cpu']:.0f}%",
            flush=True,
        )
        return bool(t["ok"])

    lo, hi, n = 0, None, 1
    while n <= cfg.max_streams:
        if ok(n):
            lo, n = n, n * 2
        else:
            hi = n
            break
    if hi is not None:
        while hi - lo > max(1, lo // 10):  # about 10 % precision
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
    best = next((t for t in trials if t["streams"] == lo and t["ok"]), None)
    return {
        "fps": fps,
        "decode": "keyframes" if decode == "KEYFRAMES" else "all",
        "streams": lo,
        "capped": hi is None,  # sustained even at max_streams: the true capacity is higher
        "cpu_percent": round(best["cpu"], 1) if best else None,
        "trials": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in t.items()} for t in trials],
    }


# -- fleet --------------------------------------------------------------------------------------------------
def _fleet_child(cfg: BenchConfig, clip: Path, topics: dict[str, str], out: Any) -> None:
    from streams.ingest.fleet import IngestFleet
    from streams.ingest.settings import IngestSettings

    s = IngestSettings(
        kafka_bootstrap=cfg.bootstrap,
        cameras_topic=topics["cameras"],
        frames_topic=topics["frames"],
        camera_status_topic=topics["status"],
        group_id=f"bench-fleet-{uuid.uuid4().hex[:6]}",
        metrics_port=0,
        worker_name="bench-fleet",
    )
    fleet = IngestFleet(s)
    th = threading.Thread(target=fleet.run, daemon=True)
    t_start = time.monotonic()
    th.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        rs = list(fleet.runners.values())
        if len(rs) >= cfg.fleet_cameras and all(r.sent > 0 for r in rs):
            break
        time.sleep(0.5)
    startup_s = time.monotonic() - t_start
    time.sleep(5.0)  # settle
    runners = list(fleet.runners.values())
    rss: list[tuple[float, float]] = [(0.0, round(_rss_mb(), 1))]
    sent0, cpu0, t0 = sum(r.sent for r in runners), _cpu_s(), time.monotonic()
    while time.monotonic() - t0 < cfg.fleet_seconds:
        time.sleep(min(5.0, cfg.fleet_seconds - (time.monotonic() - t0)))
        rss.append((round(time.monotonic() - t0, 1), round(_rss_mb(), 1)))
    took = time.monotonic() - t0
    sent1, cpu1 = sum(r.sent for r in runners), _cpu_s()
    threads = threading.active_count()
    fleet.stop()
    th.join(120)
    captured = sum(r.captured for r in runners)
    dropped = sum(r.dropped for r in runners)
    delivered, failed = fleet.producer.delivered_frames, fleet.producer.failed
    n = len(runners)
    out.put(
        {
            "cameras": n,
            "fps": cfg.fleet_fps,
            "seconds": round(took, 1),
            "startup_seconds": round(startup_s, 1),
            "frames_produced": sent1 - sent0,
            "frames_per_second": round((sent1 - sent0) / took, 1),
            "expected_frames_per_second": n * cfg.fleet_fps,
            "frames_captured_total": captured,
            "frames_dropped_by_policy": dropped,
            "frames_acknowledged_total": delivered,
            "delivery_errors": failed,
            "frames_lost": captured - dropped - delivered,
            "cpu_percent": round((cpu1 - cpu0) / took * 100, 1),
            "cores": os.cpu_count(),
            "rss_start_mb": rss[0][1],
            "rss_end_mb": rss[-1][1],
            "rss_trace_mb": rss,
            "threads": threads,
        }
    )


def _fleet(cfg: BenchConfig, topics_: _Topics) -> dict[str, Any]:
    from bench.clips import make_clip
    from schemas.cameras import camera_config
    from schemas.serde import codec
    from schemas.topics import CAMERAS

    clip = make_clip(
        cfg.clip,
        cfg.work / "highway_360p_2fps.mjpeg.mkv",
        width=640,
        height=360,
        fps=2,
        gop=1,
        seconds=10,
        codec="mjpeg",
    )
    topics = {
        "cameras": topics_.make("cameras", CAMERAS.partitions),
        "frames": topics_.make("frames", 12),
        "status": topics_.make("status", 12),
    }
    p = Producer(client_config(cfg.bootstrap))
    enc = codec("CameraConfig")
    for i in range(cfg.fleet_cameras):
        c = camera_config(f"fleet-{i:04d}", str(clip), target_fps=cfg.fleet_fps, loop=True)
        p.produce(topics["cameras"], key=c["camera_id"].encode(), value=enc.encode(c))
        p.poll(0)
    p.flush(30)
    q: Any = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_fleet_child, args=(cfg, clip, topics, q))
    proc.start()
    res: dict[str, Any] = q.get(timeout=cfg.fleet_seconds + 600)
    proc.join(60)
    on_topic = topics_.count(topics["frames"])
    res["frames_on_topic"] = on_topic
    res["frames_lost_on_topic"] = res["frames_captured_total"] - res["frames_dropped_by_policy"] - on_topic
    return res


def run_bench(cfg: BenchConfig, *, capacity: bool = True, fleet: bool = True) -> dict[str, Any]:
    from bench.clips import make_clip

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg.work.mkdir(parents=True, exist_ok=True)
    topics = _Topics(cfg.bootstrap)
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "capacity": [], "fleet": None}
    try:
        if capacity:
            t = {"frames": topics.make("cap-frames", 12), "status": topics.make("cap-status", 12)}
            print("capacity: 720p H.264 streams one worker sustains", flush=True)
            for fps in cfg.capacity_fps:
                out["capacity"].append(_capacity(cfg, cfg.clip, fps, "ALL", t))
                gop = max(1, round(_SOURCE_FPS / fps))
                kf = make_clip(
                    cfg.clip,
                    cfg.work / f"highway_720p_gop{gop}.mp4",
                    width=1280,
                    height=720,
                    fps=_SOURCE_FPS,
                    gop=gop,
                    seconds=15,
                )
                out["capacity"].append(_capacity(cfg, kf, fps, "KEYFRAMES", t))
        if fleet:
            print(
                f"fleet: {cfg.fleet_cameras} cameras at {cfg.fleet_fps:g} fps for {cfg.fleet_seconds:g} s", flush=True
            )
            out["fleet"] = _fleet(cfg, topics)
    finally:
        topics.drop()
    return out


def print_report(res: dict[str, Any]) -> None:
    if res["capacity"]:
        print("\ncapacity (streams one worker sustains on this machine)")
        print(f"  {'fps':>4} {'decode':10} {'streams':>8} {'cpu %':>6}")
        for c in res["capacity"]:
            more = "+" if c["capped"] else ""
            print(f"  {c['fps']:4g} {c['decode']:10} {str(c['streams']) + more:>8} {c['cpu_percent'] or '-':>6}")
    f = res["fleet"]
    if f:
        print(f"\nfleet: {f['cameras']} cameras x {f['fps']:g} fps for {f['seconds']} s through one worker process")
        print(
            f"  produced {f['frames_per_second']} frames/s (expected {f['expected_frames_per_second']:g}); "
            f"lost beyond policy {f['frames_lost']} (on topic: {f['frames_lost_on_topic']}); "
            f"dropped by policy {f['frames_dropped_by_policy']}; delivery errors {f['delivery_errors']}"
        )
        print(
            f"  cpu {f['cpu_percent']}% of one core ({f['cores']} cores); rss {f['rss_start_mb']} -> "
            f"{f['rss_end_mb']} MB; startup {f['startup_seconds']} s; threads {f['threads']}"
        )


def main_bench(args: Any) -> int:
    from deploy.stack.settings import repo_root
    from eventbus.settings import DeployableSettings

    shared = Path(os.environ.get("ITS_SHARED_DIR") or repo_root().parent / "shared")
    cfg = BenchConfig(
        bootstrap=args.bootstrap or DeployableSettings().kafka_bootstrap,
        clip=Path(args.clip) if args.clip else shared / "data" / "highway_overpass_720p.mp4",
        work=repo_root() / ".stack" / "bench",
        capacity_fps=tuple(float(x) for x in args.capacity_fps.split(",")),
        trial_seconds=args.trial_seconds,
        max_streams=args.max_streams,
        fleet_cameras=args.fleet_cameras,
        fleet_seconds=args.fleet_seconds,
    )
    res = run_bench(cfg, capacity=not args.skip_capacity, fleet=not args.skip_fleet)
    print_report(res)
    write_results(args.json, res)
    return 0
