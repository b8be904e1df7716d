"""The `itscam bench` subcommand."""

from __future__ import annotations

import argparse
from typing import Any

from deploy.bench.analytics import add_arguments as add_analytics_arguments
from deploy.bench.projector import add_arguments as add_projector_arguments

__all__ = ["add_parser"]


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "ingest":
        from deploy.bench.ingest import main_bench

        return main_bench(args)
    if args.target == "inference":
        from deploy.bench.inference import main_bench as main_inference

        return main_inference(args)
    if args.target == "counting":
        from deploy.bench.counting import main_bench as main_counting

        return main_counting(args)
    if args.target == "api":
        from deploy.bench.api import main_bench as main_api

        return main_api(args)
    if args.target == "projector":
        from deploy.bench.projector import main_bench as main_projector

        return main_projector(args)
    if args.target == "analytics":
        from deploy.bench.analytics import main_bench as main_analytics

        return main_analytics(args)
    raise AssertionError(args.target)


def add_parser(sub: Any) -> None:
    bp = sub.add_parser(
        "bench",
        help="Benchmarks that print figures and write them as JSON.",
        description="ingest: streams one worker sustains at 1/5/10 fps (decode all vs key frames only) and a "
        "1,000-camera fleet through one worker process into the real Kafka. inference: the bare model, our "
        "consumer through the real Kafka and Ultralytics predict frame by frame on the same frames (frames/s, P95, "
        "ratios); ITS_INFERENCE_* settings apply. counting: ingest -> inference -> analytics on each clip of --data "
        "against its hand counts, beside Ultralytics' ObjectCounter on the same frames; --sweep adds sampling fps "
        "5/10/15/full "
        "x imgsz 320/480/640. api: wrk at --connections on /v1/cameras/{id}/live and /counts of 100 seeded cameras "
        "(requests/s, P50/P95/P99) against `itscam api --workers`. projector: detection rows/s through the batched "
        "PostgreSQL write path vs one INSERT per row, and the time to rebuild --replay-events events from a topic. "
        "analytics: frames/s one `itscam analytics` process drains from a backlog of --cameras x --camera-frames "
        "synthetic detection events, and frames per CPU-second. All need the stack up.",
    )
    bp.add_argument("target", choices=["ingest", "inference", "counting", "api", "projector", "analytics"])
    bp.add_argument("--json", help="Write the figures here.")
    bp.add_argument("--bootstrap", help="Kafka bootstrap servers (ITS_KAFKA_BOOTSTRAP).")
    bp.add_argument("--clip", help="720p H.264 clip to loop (default: the highway clip in shared/data).")
    bp.add_argument("--capacity-fps", default="1,5,10", help="Sampling rates to measure capacity at (1,5,10).")
    bp.add_argument("--trial-seconds", type=float, default=8.0, help="Measuring window per capacity trial (8).")
    bp.add_argument("--max-streams", type=int, default=256, help="Stop searching above this many streams (256).")
    bp.add_argument("--fleet-cameras", type=int, default=1000, help="Cameras in the fleet run (1000).")
    bp.add_argument("--fleet-seconds", type=float, default=60.0, help="Measuring window of the fleet run (60).")
    bp.add_argument("--skip-capacity", action="store_true", help="Only the fleet run.")
    bp.add_argument("--skip-fleet", action="store_true", help="Only the capacity search.")
    bp.add_argument("--frames", type=int, default=240, help="inference: frames for bare and consumer runs (240).")
    bp.add_argument("--naive-frames", type=int, default=80, help="inference: frames for the naive peer (80).")
    bp.add_argument("--rounds", type=int, default=5, help="inference: bare/consumer rounds, medians reported (5).")
    bp.add_argument("--max-batch", type=int, help="inference: frames per model call (ITS_INFERENCE_MAX_BATCH).")
    bp.add_argument("--data", help="counting: clips + ground_truth.json (default: shared/data).")
    bp.add_argument("--model", help="counting: model file (ITS_INFERENCE_MODEL_PATH).")
    bp.add_argument("--fps", type=float, default=10.0, help="counting: sampling fps, 0 = every frame (10).")
    bp.add_argument("--imgsz", type=int, default=640, help="counting: model input size (640).")
    bp.add_argument("--sweep", action="store_true", help="counting: also fps 5/10/15/full x imgsz 320/480/640.")
    bp.add_argument("--no-peer", action="store_true", help="counting: skip the Ultralytics peer.")
    bp.add_argument("--connections", type=int, default=64, help="api: wrk connections (64).")
    bp.add_argument("--threads", type=int, default=2, help="api: wrk threads (2).")
    bp.add_argument("--seconds", type=float, default=20.0, help="api: measuring window per endpoint (20).")
    bp.add_argument("--warmup-seconds", type=float, default=3.0, help="api: warm-up per endpoint (3).")
    bp.add_argument("--workers", type=int, help="api: uvicorn workers (ITS_API_WORKERS, 2).")
    bp.add_argument("--uncached-seconds", type=float, default=10.0, help="api: window of the cache-miss run (10).")
    add_projector_arguments(bp)
    add_analytics_arguments(bp)
    bp.set_defaults(fn=_cmd_bench)
