"""`itscam bench TARGET`: one subcommand per benchmark, each with only its own options.

Options are declared here rather than in the benchmark modules so that building the parser imports none of them
(each pulls in numpy, Kafka clients or the pipeline: about a second that every `itscam` start would pay).
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser"]

_COMMON_HELP = "Needs the stack up (`make stack-up`)."


def _ingest(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--clip", help="720p H.264 clip to loop (default: the highway clip in shared/data).")
    bp.add_argument("--capacity-fps", default="1,5,10", help="Sampling rates to measure capacity at (1,5,10).")
    bp.add_argument("--trial-seconds", type=float, default=8.0, help="Measuring window per capacity trial (8).")
    bp.add_argument("--max-streams", type=int, default=256, help="Stop searching above this many streams (256).")
    bp.add_argument("--fleet-cameras", type=int, default=1000, help="Cameras in the fleet run (1000).")
    bp.add_argument("--fleet-seconds", type=float, default=60.0, help="Measuring window of the fleet run (60).")
    bp.add_argument("--skip-capacity", action="store_true", help="Only the fleet run.")
    bp.add_argument("--skip-fleet", action="store_true", help="Only the capacity search.")


def _inference(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--clip", help="Clip whose frames are inferred (default: the highway clip in shared/data).")
    bp.add_argument("--frames", type=int, default=240, help="Frames for the bare and consumer runs (240).")
    bp.add_argument("--naive-frames", type=int, default=80, help="Frames for the naive peer (80).")
    bp.add_argument("--rounds", type=int, default=5, help="Bare/consumer rounds, medians reported (5).")
    bp.add_argument("--max-batch", type=int, help="Frames per model call (ITS_INFERENCE_MAX_BATCH).")
    bp.add_argument(
        "--backends",
        help="Backends measured side by side, the first one's figures on top; a precision may follow a colon "
        "(openvino:fp32). Default: onnxruntime,openvino when ITS_INFERENCE_BACKEND is a CPU backend, else "
        "ITS_INFERENCE_BACKEND alone.",
    )
    bp.add_argument(
        "--no-pipeline",
        action="store_true",
        help="Skip the end-to-end run (ingest -> inference with the best backend -> analytics -> projector on every "
        "frame of the clip, against Ultralytics' ObjectCounter; bench/pipeline.py).",
    )


def _counting(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--data", help="Clips + ground_truth.json (default: shared/data).")
    bp.add_argument("--model", help="Model file (ITS_INFERENCE_MODEL_PATH).")
    bp.add_argument("--fps", type=float, default=10.0, help="Sampling fps, 0 = every frame (10).")
    bp.add_argument("--imgsz", type=int, default=640, help="Model input size (640).")
    bp.add_argument("--sweep", action="store_true", help="Also fps 5/10/15/full x imgsz 320/480/640.")
    bp.add_argument("--no-peer", action="store_true", help="Skip the Ultralytics peer.")
    bp.add_argument(
        "--conditions",
        nargs="?",
        const="all",
        help="Also count on degraded versions of the clips (rain, jpeg30, lowlight, blur, noise, fps5, 360p; "
        "bench/conditions.py): all of them, or a comma-separated list.",
    )


def _api(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--connections", type=int, default=64, help="wrk connections (64).")
    bp.add_argument("--wrk-threads", "--threads", dest="threads", type=int, default=2, help="wrk threads (2).")
    bp.add_argument("--seconds", type=float, default=20.0, help="Measuring window per endpoint (20).")
    bp.add_argument("--warmup-seconds", type=float, default=3.0, help="Warm-up per endpoint (3).")
    bp.add_argument("--workers", type=int, help="uvicorn workers of the API under test (ITS_API_WORKERS, 2).")
    bp.add_argument("--uncached-seconds", type=float, default=10.0, help="Window of the cache-miss run (10).")


def _projector(bp: argparse.ArgumentParser) -> None:
    bp.add_argument("--write-frames", type=int, default=20000, help="Frames for the write comparison (20000).")
    bp.add_argument("--dets-per-frame", type=int, default=10, help="Detections per frame (10).")
    bp.add_argument("--naive-seconds", type=float, default=10.0, help="Time bound of the naive loop (10).")
    bp.add_argument("--replay-events", type=int, default=1_000_000, help="Events rebuilt (1,000,000).")


def _analytics(bp: argparse.ArgumentParser) -> None:
    bp.add_argument(
        "--source",
        choices=("clips", "synthetic"),
        default="clips",
        help="Detections YOLO made of the shared clips, recorded once (clips), or synthetic six-lane traffic.",
    )
    bp.add_argument("--data", help="Clips + ground_truth.json for --source clips (default: shared/data).")
    bp.add_argument("--model", help="Model the clips are recorded with (ITS_INFERENCE_MODEL_PATH).")
    bp.add_argument("--cameras", type=int, default=100, help="Cameras in the backlog (100).")
    bp.add_argument(
        "--camera-frames", type=int, default=300, help="Frames per camera, 10 fps (300; clips: at most theirs)."
    )
    bp.add_argument("--vehicles", type=int, default=10, help="Synthetic: vehicles in view per camera (10).")
    bp.add_argument("--scale", help="Also run at these camera counts, e.g. 10,100,1000 (growth per camera).")
    bp.add_argument("--scale-events", type=int, default=20000, help="Events per --scale run (20000; >= 20 frames).")
    bp.add_argument("--partitions", type=int, default=12, help="Partitions of co-partitioned topics (12).")
    bp.add_argument("--timeout", type=float, default=300.0, help="Most seconds to drain the backlog (300).")


# target -> (one-line help, description, options)
TARGETS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = {
    "ingest": (
        "Streams one ingest worker sustains, and a 1,000-camera fleet.",
        "Streams one worker sustains at 1/5/10 fps (decode all vs key frames only) and a 1,000-camera fleet through "
        "one worker process into the real Kafka.",
        _ingest,
    ),
    "inference": (
        "The bare model, our consumer through Kafka and Ultralytics' predict on the same frames.",
        "The bare model, our consumer through the real Kafka and Ultralytics predict frame by frame on the same "
        "frames (frames/s, P95, ratios); ITS_INFERENCE_* settings apply.",
        _inference,
    ),
    "counting": (
        "ingest -> inference -> analytics counts against the hand counts, beside Ultralytics' ObjectCounter.",
        "ingest -> inference -> analytics on each clip of --data against its hand counts, beside Ultralytics' "
        "ObjectCounter on the same frames; --sweep adds sampling fps 5/10/15/full x imgsz 320/480/640.",
        _counting,
    ),
    "api": (
        "Requests/s and latency of /live and /counts under wrk.",
        "wrk at --connections on /v1/cameras/{id}/live and /counts of 100 seeded cameras (requests/s, P50/P95/P99) "
        "against `itscam api --workers`.",
        _api,
    ),
    "projector": (
        "Detection rows/s through the batched write path, and the time to rebuild from a topic.",
        "Detection rows/s through the batched PostgreSQL write path vs one INSERT per row, and the time to rebuild "
        "--replay-events events from a topic.",
        _projector,
    ),
    "analytics": (
        "Frames/s one analytics worker drains from a backlog of detection events.",
        "Frames/s one `itscam analytics` process drains from a backlog of --cameras x --camera-frames detection "
        "events (the shared clips' detections, replayed per camera), frames per CPU-second, P95 per event, changelog "
        "bytes and RSS per camera.",
        _analytics,
    ),
}


def _allow_local_sources() -> None:
    """Benchmarks read local clips (shared/data, their own variants under .stack/ and the temp folder) and loopback
    servers on this machine: allow exactly those, unless the user set the source policy (ITS_SOURCE_*)."""
    import tempfile

    from deploy.stack.settings import StackSettings, repo_root

    dirs = [os.environ.get("ITS_SHARED_DIR") or str(repo_root().parent / "shared"), str(StackSettings().home)]
    dirs.append(tempfile.gettempdir())
    os.environ.setdefault("ITS_SOURCE_ALLOW_FILES", "true")
    os.environ.setdefault("ITS_SOURCE_FILE_DIRS", ",".join(dirs))
    os.environ.setdefault("ITS_SOURCE_ALLOW_LOOPBACK", "true")


def _run(args: argparse.Namespace) -> int:
    _allow_local_sources()
    module = importlib.import_module(f"bench.{args.target}")
    main: Callable[[argparse.Namespace], int] = module.main_bench
    return main(args)


def add_parser(sub: Any) -> None:
    bp = sub.add_parser(
        "bench",
        help="Benchmarks that print figures and write them as JSON.",
        description="Each benchmark prints its figures measured side by side in one run and writes them as JSON "
        f"(--json; the recorded ones are in bench/results/). {_COMMON_HELP}",
    )
    targets = bp.add_subparsers(dest="target", required=True, metavar="TARGET")
    for name, (short, description, add_options) in TARGETS.items():
        tp = targets.add_parser(name, help=short, description=f"{description} {_COMMON_HELP}")
        tp.add_argument("--json", help="Write the figures here.")
        if name != "api":  # the API benchmark talks to the API, PostgreSQL and Redis only
            tp.add_argument("--bootstrap", help="Kafka bootstrap servers (ITS_KAFKA_BOOTSTRAP).")
        add_options(tp)
        tp.set_defaults(fn=_run, target=name)
