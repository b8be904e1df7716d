"""`itscam`: the one console script. A thin composition root: parses flags, builds settings, runs a stage."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from deploy.cameras import add_parser as add_cameras_parser
from deploy.keys import add_parser as add_keys_parser
from deploy.kube.cli import add_parser as add_k8s_parser
from deploy.kube.plan import add_parser as add_plan_parser
from deploy.model import add_parser as add_model_parser
from deploy.readside import add_db_parser
from deploy.readside import add_parser as add_readside_parser
from schemas.errors import ItsCameraError

__all__ = ["main"]


def _add_bench_parser(sub: Any) -> None:
    """`itscam bench`, from a checkout only: the benchmarks (bench/) are not part of the installed package.

    The editable install maps only the runtime packages, so the checkout that holds this package is put on the
    path when it has bench/ beside it; an installed wheel gets a `bench` that says where the benchmarks are.
    """
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "bench" / "cli.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from bench.cli import add_parser
    except ModuleNotFoundError:

        def missing(args: argparse.Namespace) -> int:
            print(
                "itscam bench: error: the benchmarks are not in the installed package; run them from a checkout "
                "of the repository (`make bench-ingest`, ...).",
                file=sys.stderr,
            )
            return 2

        sub.add_parser("bench", help="Benchmarks (from a checkout of the repository).").set_defaults(fn=missing)
        return
    add_parser(sub)


def _overrides(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def _on_sigterm(stop: Callable[[], None]) -> None:
    def handler(signum: int, frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# -- stack / topics / db --------------------------------------------------------------------------------
def cmd_stack(args: argparse.Namespace) -> int:
    from deploy.stack import StackSettings, services

    s = StackSettings()
    svcs = services(s)
    if args.action == "up":
        for svc in svcs:
            svc.up()
            print(f"{svc.name:9} {svc.status()}")
        print(f"data and logs: {s.home}")
    elif args.action == "down":
        for svc in reversed(svcs):
            svc.down()
            print(f"{svc.name:9} {svc.status()}")
    elif args.action == "status":
        states = [(svc.name, svc.status()) for svc in svcs]
        for name, st in states:
            print(f"{name:9} {st}")
        return 0 if all(st.startswith("running") for _, st in states) else 3
    elif args.action == "logs":
        for svc in svcs:
            if args.service and svc.name != args.service:
                continue
            print(f"==> {svc.log} <==")
            if svc.log.exists():
                lines = svc.log.read_text(errors="replace").splitlines()
                print("\n".join(lines[-args.lines :]))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from eventbus.admin import apply_topics, publish_schemas
    from eventbus.settings import DeployableSettings
    from schemas.topics import CATALOGUE

    bootstrap = args.bootstrap or DeployableSettings().kafka_bootstrap
    if args.action == "list":
        for t in CATALOGUE:
            print(
                f"{t.name:22} partitions={t.partitions:<3} cleanup={t.cleanup_policy:8} "
                f"retention_ms={t.retention_ms:<11} key={t.key} value={t.value_schema}"
            )
        return 0
    created = apply_topics(bootstrap)
    n = publish_schemas(bootstrap)
    print(f"topics created: {created or 'none (all present)'}; configs applied; {n} schemas published")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from streams.ingest import IngestFleet, IngestSettings, IngestWorker

    s = IngestSettings(
        **_overrides(args, ["source", "camera_id", "fps", "realtime", "max_frames", "metrics_port", "group_id"])
    )
    if not s.source:  # fleet mode: the cameras this worker gets from the registry
        fleet = IngestFleet(s)
        _on_sigterm(fleet.stop)
        fleet.run()
        return 0
    worker = IngestWorker(s)
    _on_sigterm(worker.stop)
    res = worker.run()
    print(
        json.dumps(
            {
                "camera_id": res.camera_id,
                "source": res.source,
                "frames": res.frames,
                "decoded": res.decoded,
                "dropped": res.dropped,
                "first_captured_at": res.first_captured_at.isoformat() if res.first_captured_at else None,
                "last_captured_at": res.last_captured_at.isoformat() if res.last_captured_at else None,
            }
        ),
        flush=True,
    )
    return 0


def cmd_inference(args: argparse.Namespace) -> int:
    from inference import DetectorPool, InferenceSettings
    from inference.worker import InferenceWorker

    s = InferenceSettings(
        **_overrides(
            args,
            ["backend", "model_path", "device", "imgsz", "classes", "max_batch", "workers", "threads", "metrics_port"],
        )
    )
    pool = DetectorPool.from_settings(s)
    pool.warmup()
    worker = InferenceWorker(s, pool)
    _on_sigterm(worker.stop)
    worker.run()
    return 0


def cmd_analytics(args: argparse.Namespace) -> int:
    from streams.analytics import AnalyticsSettings
    from streams.analytics.worker import run

    s = AnalyticsSettings(**_overrides(args, ["app_id", "data_dir", "worker_name", "metrics_port", "store"]))
    return run(s)


def cmd_projector(args: argparse.Namespace) -> int:
    from projections import Projector, ProjectorSettings, migrate

    s = ProjectorSettings(**_overrides(args, ["metrics_port"]))
    migrate(s.pg_dsn.get_secret_value(), s.pg_schema)
    proj = Projector(s)
    _on_sigterm(proj.stop)
    proj.run()
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from deploy.apiserver import serve

    return serve(_overrides(args, ["host", "port", "metrics_port", "workers"]))


def cmd_demo(args: argparse.Namespace) -> int:
    from deploy.demo import run_demo

    return run_demo(
        source=args.source,
        once=args.once,
        summary_path=args.summary,
        camera_id=args.camera_id,
        realtime=args.realtime,
        max_frames=args.max_frames,
    )


# -- parser ---------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="itscam",
        description="ITS Camera AI: traffic cameras -> Kafka -> YOLO11 -> PostgreSQL/Redis -> query API.",
    )
    p.add_argument("--log-level", default=None, help="Log level (ITS_LOG_LEVEL, INFO).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    st = sub.add_parser(
        "stack",
        help="Run the local Kafka/PostgreSQL/Redis stack.",
        description="Install (if missing) and run Kafka (KRaft), PostgreSQL and Redis on loopback; "
        "data and logs under .stack/ (ITS_STACK_HOME). Ports: ITS_STACK_KAFKA_PORT (19092), "
        "ITS_STACK_PG_PORT (15432), ITS_STACK_REDIS_PORT (16379).",
    )
    st.add_argument(
        "action",
        choices=["up", "down", "status", "logs"],
        help="up is idempotent; status exits 3 unless every service runs.",
    )
    st.add_argument("service", nargs="?", choices=["kafka", "postgres", "redis"], help="logs: only this service.")
    st.add_argument("-n", "--lines", type=int, default=50, help="logs: lines per service (50).")
    st.set_defaults(fn=cmd_stack)

    tp = sub.add_parser(
        "topics",
        help="Create/update topics from the catalogue and publish schemas.",
        description="apply: create missing topics, apply configs, publish every Avro schema to "
        "its.schemas.v1 keyed by fingerprint (idempotent). list: print the catalogue.",
    )
    tp.add_argument("action", choices=["apply", "list"])
    tp.add_argument("--bootstrap", help="Kafka bootstrap servers (ITS_KAFKA_BOOTSTRAP).")
    tp.set_defaults(fn=cmd_topics)

    add_db_parser(sub)
    add_readside_parser(sub)

    ig = sub.add_parser(
        "ingest",
        help="Run an ingest worker (cameras from the registry), or stream one source with --source.",
        description="Without --source: join the ingest workers' consumer group on its.cameras.v1 and read the "
        "cameras of the partitions Kafka assigns (start a second worker and they split). With --source: read one "
        "file or URL (rtsp://, http://, HLS, whep://) once. Either way frames are sampled to the target fps, "
        "JPEG-encoded and produced to its.frames.v1 keyed by camera id, and camera health goes to "
        "its.camera-status.v1. Settings: ITS_INGEST_*.",
    )
    ig.add_argument("--source", help="Path or URL (ITS_INGEST_SOURCE).")
    ig.add_argument("--camera-id", help="Camera id (default: source file name).")
    ig.add_argument("--fps", type=float, help="Target sampled fps (10).")
    ig.add_argument("--realtime", action="store_true", default=None, help="Pace files at their own frame rate.")
    ig.add_argument("--max-frames", type=int, help="Stop after N sampled frames.")
    ig.add_argument("--metrics-port", type=int, help="Prometheus port (9101; 0 = off).")
    ig.add_argument("--group-id", help="Consumer group of the ingest workers (its-ingest).")
    ig.set_defaults(fn=cmd_ingest)

    add_cameras_parser(sub)

    inf = sub.add_parser(
        "inference",
        help="Run YOLO11 on its.frames.v1 into its.detections.v1.",
        description="Consume frames in batches, decode them in a thread pool, run YOLO11 (ONNX Runtime on CPU, "
        "PyTorch or TensorRT on a GPU), produce DetectionsProduced exactly once (Kafka transactions with the "
        "consumed offsets); undetectable frames go to its.dlq.v1 with a reason. Settings: ITS_INFERENCE_*.",
    )
    inf.add_argument("--backend", choices=["onnxruntime", "torch", "tensorrt"], help="ITS_INFERENCE_BACKEND.")
    inf.add_argument("--model-path", help="Model file: .onnx, .pt or .engine (ITS_INFERENCE_MODEL_PATH).")
    inf.add_argument("--device", help="GPU for torch/tensorrt (cuda:0).")
    inf.add_argument("--classes", help="Classes kept, names or ids (person,bicycle,car,motorcycle,bus,truck; all).")
    inf.add_argument("--imgsz", type=int, help="Model input size (640).")
    inf.add_argument("--max-batch", type=int, help="Most frames per model call (4; GPU 32-64).")
    inf.add_argument("--workers", type=int, help="Model sessions side by side (0 = one per core).")
    inf.add_argument("--threads", type=int, help="ONNX Runtime threads per session (1; 0 = per core).")
    inf.add_argument("--metrics-port", type=int, help="Prometheus port (9102; 0 = off).")
    inf.set_defaults(fn=cmd_inference)

    an = sub.add_parser(
        "analytics",
        help="Track, count, time and aggregate its.detections.v1 (Faust, exactly-once).",
        description="ByteTrack per camera, directional line counts (its.vehicle-events.v1), speeds from a "
        "homography, incidents (its.incidents.v1: stopped vehicle, wrong way, congestion, camera offline) and "
        "1-minute statistics (its.traffic-stats.v1). State per camera in a Faust table with a changelog topic; "
        "events, state and offsets commit in one transaction. Settings: ITS_ANALYTICS_*.",
    )
    an.add_argument("--app-id", help="Faust app id / consumer group (its-analytics).")
    an.add_argument("--data-dir", help="Folder of the RocksDB tables (.stack/analytics).")
    an.add_argument("--worker-name", help="This worker's folder under --data-dir (<host>-<pid>).")
    an.add_argument("--store", choices=["auto", "rocksdb", "memory"], help="Table store (auto).")
    an.add_argument("--metrics-port", type=int, help="Prometheus port (9105; 0 = off).")
    an.set_defaults(fn=cmd_analytics)

    pj = sub.add_parser(
        "projector",
        help="Project every event topic into the PostgreSQL read models and Redis.",
        description="Read its.cameras.v1, its.camera-status.v1, its.detections.v1, its.vehicle-events.v1, "
        "its.traffic-stats.v1 and its.incidents.v1; write their read models (cameras, status, frames and "
        "detections, per-minute class counts, vehicle events, statistics, incidents) to PostgreSQL in one "
        "transaction per batch with the offsets, and the live state per camera to Redis. Settings: "
        "ITS_PROJECTOR_*, ITS_PG_DSN, ITS_REDIS_URL.",
    )
    pj.add_argument("--metrics-port", type=int, help="Prometheus port (9103; 0 = off).")
    pj.set_defaults(fn=cmd_projector)

    ap = sub.add_parser(
        "api",
        help="Serve the query API.",
        description="Starlette on uvicorn (uvloop + httptools when installed): /health, /ready, /openapi.json, "
        "/docs and the /v1 routes behind API keys (`itscam keys create`). Settings: ITS_API_*.",
    )
    ap.add_argument("--host", help="Listen address (127.0.0.1).")
    ap.add_argument("--port", type=int, help="Port (8080).")
    ap.add_argument("--metrics-port", type=int, help="Prometheus port (9104; 0 = off).")
    ap.add_argument("--workers", type=int, help="uvicorn worker processes (ITS_API_WORKERS, 2).")
    ap.set_defaults(fn=cmd_api)

    dm = sub.add_parser(
        "demo",
        help="Run every stage on a clip and print per-class counts.",
        description="Start inference, projector and API as processes, stream SOURCE through them, "
        "print the counts read back from the API and keep the API up until Ctrl-C (or exit with "
        "--once). Needs the stack up and topics applied (`make demo` does both).",
    )
    dm.add_argument("--source", default=None, help="Video path or camera URL (default: the sample clip).")
    dm.add_argument("--camera-id", default=None, help="Camera id (default: <file name>-<timestamp>).")
    dm.add_argument("--once", action="store_true", help="Exit when the clip is through instead of serving.")
    dm.add_argument("--summary", default=None, help="Write the JSON summary here.")
    dm.add_argument("--realtime", action="store_true", help="Pace the file at its own frame rate.")
    dm.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="Stop ingest after N frames (needed for a live camera with --once).",
    )
    dm.set_defaults(fn=cmd_demo)

    add_model_parser(sub)
    add_keys_parser(sub)
    _add_bench_parser(sub)
    add_k8s_parser(sub)
    add_plan_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from deploy.logs import setup_logging
    from eventbus.settings import DeployableSettings

    args = build_parser().parse_args(argv)
    setup_logging(f"itscam-{args.command}", args.log_level or DeployableSettings().log_level)
    try:
        rc: int = args.fn(args)
    except ItsCameraError as e:  # every package's root error carries the fix: print it without a traceback
        print(f"itscam {args.command}: error: {e}", file=sys.stderr)
        return 2
    return rc


if __name__ == "__main__":
    sys.exit(main())
