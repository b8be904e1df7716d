"""`itscam demo`: all five stages as their own processes on one clip; vehicles counted per line read back from the
API beside the clip's hand count, speeds, statistics, incidents, per-stage throughput and fps.

The demo registers a new camera (its counting line from ../shared/data/ground_truth.json when the clip is listed
there) before any frame exists, starts inference, analytics, projector and API, streams the source with one-shot
ingest, and waits exactly: every frame projected (the read model's frame count), analytics through everything
written to its inputs (its consumer group's committed offsets against the high watermarks), then the projector
through everything analytics wrote (likewise). Figures are then read back from the API (itscam/demo_report.py).

pipeline_fps = frames through every stage / (last frame projected - first frame produced), from the read
models; model_fps = the same detector (backend, imgsz, threads) on the same JPEG frames, called directly in
this process once the pipeline is idle (itscam/demo_model.py). Both are measured in one run.

Every `itscam` start builds this module's parser: OpenCV, httpx, Kafka and the stages are imported where they are
used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itscam.demo_stages import Phases, Stages, wait_for, wait_for_analytics
from itscam.demo_wait import metric_value, scrape
from itscam.errors import CliError

if TYPE_CHECKING:
    from itscam.demo_camera import HandCount
    from itscam.demo_report import Api

__all__ = ["DemoError", "add_parser", "default_source", "metric_value", "run_demo"]

# The stages the demo runs in the background, in start order (ingest runs in the foreground).
_STAGES = ("inference", "analytics", "projector", "api")


class DemoError(CliError):
    """The demo cannot run as asked; the message says what to pass instead."""


def _shared_data() -> Path:
    from deploy.stack.settings import repo_root

    shared = os.environ.get("ITS_SHARED_DIR") or str(repo_root().parent / "shared")
    return Path(shared) / "data"


def default_source() -> str:
    return str(_shared_data() / "highway_overpass_720p.mp4")


def _allow_source(src: str, live: bool) -> None:
    """Unless the user set them, let the demo's stages (which inherit this environment) read exactly the clip's
    directory and loopback cameras (ITS_SOURCE_*, schemas/source_policy.py); then check `src` as ingest will."""
    from schemas.source_policy import SourceRefused, check_source

    if not live:
        os.environ.setdefault("ITS_SOURCE_ALLOW_FILES", "true")
        os.environ.setdefault("ITS_SOURCE_FILE_DIRS", os.path.dirname(os.path.realpath(src)))
    os.environ.setdefault("ITS_SOURCE_ALLOW_LOOPBACK", "true")
    try:
        check_source(src)
    except SourceRefused as e:
        raise DemoError(str(e)) from None


def _use_stack_seal_keys() -> None:
    """Unless the user set them, seal and open camera credentials (a live URL with user:password@) with the local
    stack's key pair, which `itscam stack up` makes once and keeps (deploy/stack/seal.py)."""
    from deploy.stack import StackSettings
    from deploy.stack.seal import ensure_seal_keys
    from schemas.credentials import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV

    if os.environ.get(PUBLIC_KEY_ENV) or os.environ.get(PRIVATE_KEY_ENV):
        return
    private, public = ensure_seal_keys(StackSettings())
    os.environ[PUBLIC_KEY_ENV] = str(public)
    os.environ[PRIVATE_KEY_ENV] = str(private)


def _demo_token(dsn: str) -> str:
    """A read-only key for this demo run (`itscam keys revoke` it, or leave it: it only reads)."""
    from projections import migrate
    from projections.api.keys import create_key

    migrate(dsn)
    return create_key(dsn, "demo", ["read"], 60_000)[1]


def _ports() -> dict[str, int]:
    """The /metrics port of each background stage that has one."""
    from inference import InferenceSettings
    from projections import ProjectorSettings
    from streams.analytics import AnalyticsSettings

    return {
        "inference": InferenceSettings().metrics_port,
        "analytics": AnalyticsSettings().metrics_port,
        "projector": ProjectorSettings().metrics_port,
    }


def run_demo(
    source: str | None,
    once: bool,
    summary_path: str | None,
    camera_id: str | None,
    realtime: bool,
    max_frames: int | None = None,
    lines: str | None = None,
) -> int:
    from eventbus.settings import DeployableSettings
    from itscam.demo_camera import ground_truth, lines_arg, register_camera
    from itscam.demo_report import Api, page_link
    from projections.api import ApiSettings
    from schemas.credentials import display_url
    from streams.ingest import IngestSettings, camera_id_for, is_live

    # Ctrl-C and SIGTERM both stop the demo and its stages cleanly (also when started from a script, where
    # SIGINT may be inherited as ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    phases = Phases()
    src = source or default_source()
    live = is_live(src)
    if not live and not Path(src).is_file():
        raise DemoError(f"Demo source {src} does not exist. Pass SOURCE=path-or-rtsp-url.")
    if live and once and not max_frames:
        raise DemoError(f"{src} is a live camera and never ends: with ONCE=1 also give MAX_FRAMES=N.")
    src = src if live else str(Path(src).absolute())  # not resolve(): a link keeps its own name
    _allow_source(src, live)
    _use_stack_seal_keys()
    cam = camera_id or f"{camera_id_for(src)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    hand = None if live else ground_truth(_shared_data() / "ground_truth.json", src)
    line_list = lines_arg(lines) if lines is not None else ([hand.line] if hand is not None else [])
    ing = IngestSettings()
    register_camera(DeployableSettings().kafka_bootstrap, cam, src, ing.fps, ing.jpeg_quality, line_list)
    api = ApiSettings()
    base = Api(f"http://{api.host}:{api.port}", _demo_token(api.pg_dsn.get_secret_value()))
    from deploy.stack.settings import StackSettings

    stages = Stages(StackSettings().logs)
    ports = _ports()
    try:
        # All at once: analytics (Faust) and the projector start while inference loads and warms its model.
        for name in _STAGES:
            stages.start(name)
        for name in ("inference", "analytics", "projector"):
            gauge = f"its_{name}_ready"
            wait_for(f"{name} ready", lambda p=ports[name], g=gauge: metric_value(p, g) == 1, 180, stages)
            phases.mark(f"{name} ready")
        wait_for("API ready", lambda: _ready(base), 60, stages)
        phases.mark("API ready")
        where = "" if line_list else " with no counting line"
        if hand is not None and lines is None:
            where = f" with the hand-count line of {hand.clip} from ground_truth.json"
        print(f"stages up; streaming {display_url(src)} as camera {cam!r}{where}", flush=True)
        print(f"analyst page: {page_link(base, cam)}", flush=True)
        cmd = ["ingest", "--source", src, "--camera-id", cam]
        cmd += ["--realtime"] if realtime else []
        cmd += ["--max-frames", str(max_frames)] if max_frames else []
        if live and not max_frames:
            _follow_live(stages, cmd, src, base, cam, bool(line_list))
            return 0
        summary = _run_to_completion(stages, cmd, src, base, cam, live, hand, ports, phases, once)
        if not line_list:
            from itscam.demo_report import no_line_hint

            print(no_line_hint(source or src, cam, base.url))
        serve = " (the demo's API has stopped: serve it with `itscam api`)" if once else ""
        print(f"\nanalyst page, on this camera: {page_link(base, cam)}{serve}", flush=True)
        print(phases.line())
        summary["demo_wall_s"] = phases.total()
        summary["demo_phases_s"] = phases.seconds
        if summary_path:
            Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
            print(f"summary written to {summary_path}")
        if not once:
            print(
                f"\nAPI up at {base.url} (try: curl -H 'Authorization: Bearer {base.token}' "
                f"{base.url}/v1/cameras/{cam}/counts). Ctrl-C to stop.",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    stages.check_alive()
                    time.sleep(1)
            print("stopping")
    finally:
        stages.stop()
    return 0


def _run_to_completion(
    stages: Stages,
    cmd: list[str],
    src: str,
    base: Api,
    cam: str,
    live: bool,
    hand: HandCount | None,
    ports: dict[str, int],
    phases: Phases,
    once: bool,
) -> dict[str, Any]:
    from itscam.demo_report import print_report, read_back, summary_fields, throughput
    from schemas.credentials import display_url

    before = {name: scrape(port) for name, port in ports.items()}
    res = subprocess.run([sys.executable, "-m", "itscam", *cmd], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise DemoError(f"ingest failed ({res.returncode}): {res.stderr[-2000:]}")
    produced = json.loads(res.stdout.strip().splitlines()[-1])
    n = produced["frames"]
    phases.mark("ingest")
    print(f"ingest produced {n} frames; waiting for every stage to finish them", flush=True)
    camdoc = wait_for(f"all {n} frames projected", lambda: _camera_done(base, cam, n), 600, stages)
    phases.mark("frames projected")
    wait_for_analytics(stages, phases)
    after = {name: scrape(port) for name, port in ports.items()}
    counts = base.json(f"/v1/cameras/{cam}/detection-counts", bucket="1h")["totals"]["counts"]
    first = datetime.fromisoformat(produced["first_captured_at"])
    last = datetime.fromisoformat(camdoc["last_projected_at"])
    pipeline_wall = (last - first).total_seconds()
    pipeline_fps = camdoc["frames"] / pipeline_wall
    seen = ", ".join(f"{c} {k}" for c, k in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(f"\nframes: produced {n}, projected {camdoc['frames']}; detections {camdoc['detections']} ({seen})")
    print(
        f"pipeline: {pipeline_fps:.2f} frames/s ({camdoc['frames']} frames in {pipeline_wall:.2f}s, first "
        "produced -> last projected)",
        flush=True,
    )
    report = read_back(base, cam)
    rates = throughput(base, cam, produced, report, before, after)
    print_report(report, hand, rates)
    phases.mark("read back")
    model: dict[str, Any] = {"fps": None}
    if not live:
        from itscam.demo_model import model_direct

        if once:  # nothing else is needed from the stages: measure the model on an idle machine
            stages.stop()
            phases.mark("stages stopped")
        model = model_direct(src, n, pipeline_fps)
        phases.mark("model direct")
    return {
        "source": display_url(src),
        "camera_id": cam,
        "frames": camdoc["frames"],
        "frames_produced": n,
        "detections": camdoc["detections"],
        "counts": counts,
        "pipeline_fps": round(pipeline_fps, 3),
        "model_fps": round(model["fps"], 3) if model["fps"] else None,
        "ratio": round(pipeline_fps / model["fps"], 3) if model["fps"] else None,
        "model_fps_config": model.get("config"),
        "pipeline_wall_s": round(pipeline_wall, 3),
        **summary_fields(report, hand, rates),
    }


def _follow_live(stages: Stages, cmd: list[str], src: str, base: Api, cam: str, has_lines: bool) -> None:
    """A live camera never ends: run ingest as one more stage and print the counts every 10 s until Ctrl-C."""
    from itscam.demo_report import no_line_hint, print_report, read_back

    stages.start(*cmd)
    print(f"following live camera; counts every 10 s from {base.url}/v1/cameras/{cam}/counts. Ctrl-C to stop.")
    if not has_lines:
        print(no_line_hint(src, cam, base.url))
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(10)
            stages.check_alive()
            try:
                print_report(read_back(base, cam), None, None)
            except CliError as e:  # the API answered with an error: say so and try again in 10 s
                print(e)
    print("stopping")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _ready(base: Api) -> bool:
    import httpx

    try:
        return base.get("/ready").status_code == 200
    except httpx.HTTPError:
        return False


def _camera_done(base: Api, cam: str, n: int) -> dict[str, Any] | None:
    import httpx

    try:
        r = base.get(f"/v1/cameras/{cam}")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    doc: dict[str, Any] = r.json()
    return doc if (doc["frames"] or 0) >= n else None


def _cmd(args: argparse.Namespace) -> int:
    return run_demo(
        source=args.source,
        once=args.once,
        summary_path=args.summary,
        camera_id=args.camera_id,
        realtime=args.realtime,
        max_frames=args.max_frames,
        lines=args.lines,
    )


def add_parser(sub: Any) -> None:
    dm = sub.add_parser(
        "demo",
        help="Run every stage on a clip and print the vehicles counted per line.",
        description="Register a camera for SOURCE (its counting line from ground_truth.json beside the sample "
        "clips when SOURCE is listed there), start inference, analytics, projector and API as processes, stream "
        "SOURCE through them, print the vehicles counted per line (beside the hand count), speeds, statistics, "
        "incidents and per-stage throughput read back from the API, and keep the API up until Ctrl-C (or exit "
        "with --once). Needs the stack up and topics applied (`make demo` does both).",
    )
    dm.add_argument("--source", default=None, help="Video path or camera URL (default: the sample clip).")
    dm.add_argument("--camera-id", default=None, help="A new camera id (default: <file name>-<timestamp>).")
    dm.add_argument("--once", action="store_true", help="Exit when the clip is through instead of serving.")
    dm.add_argument("--summary", default=None, help="Write the JSON summary here.")
    dm.add_argument("--realtime", action="store_true", help="Pace the file at its own frame rate.")
    dm.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="Stop ingest after N frames (needed for a live camera with --once).",
    )
    dm.add_argument(
        "--lines",
        default=None,
        help='Counting lines as JSON or @file ([{"line_id":..,"x1":..,"y1":..,"x2":..,"y2":..}], '
        "normalised); default: the clip's line from ground_truth.json, else none. '[]': none.",
    )
    dm.set_defaults(fn=_cmd)
