"""`itscam demo`: every stage as its own process on one clip, counts read back from the API, fps measured.

pipeline_fps = frames through every stage / (last frame projected - first frame produced), from the read
models; model_fps = the same detector (backend, imgsz, threads) on the same JPEG frames, called directly in
this process once the pipeline is idle. Both are measured in one run.

Every `itscam` start builds this module's parser: OpenCV, httpx and the stages are imported where they are used.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itscam.errors import CliError

if TYPE_CHECKING:
    import httpx

__all__ = ["DemoError", "add_parser", "default_source", "measure_model_fps", "metric_value", "run_demo"]


class DemoError(CliError):
    """The demo cannot run as asked; the message says what to pass instead."""


def default_source() -> str:
    from deploy.stack.settings import repo_root

    shared = os.environ.get("ITS_SHARED_DIR") or str(repo_root().parent / "shared")
    return str(Path(shared) / "data" / "highway_overpass_720p.mp4")


class _Stages:
    """The long-running stage processes of the demo, logs under .stack/logs/demo-<stage>.log."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        """Start `itscam NAME ARGS...` in the background."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"demo-{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "itscam", name, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(
                    f"The {name} stage exited with code {p.returncode}; see {self.logs / f'demo-{name}.log'}."
                )

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def metric_value(port: int, name: str) -> float | None:
    """The value of an unlabelled metric on a local /metrics port; None while the port does not answer."""
    import httpx

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _wait(what: str, check: Any, timeout: float, stages: _Stages) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages.check_alive()
        val = check()
        if val:
            return val
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s; see {stages.logs}/demo-*.log.")


def sampled_jpegs(source: str, fps: float, quality: int) -> list[bytes]:
    """The exact JPEG frames ingest produced for a file source (same sampler, same encoder)."""
    import cv2

    from streams.ingest import FpsSampler, open_frames

    sampler = FpsSampler(fps)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    out = []
    for df in open_frames(source):
        if sampler.accept(df.t):
            ok, buf = cv2.imencode(".jpg", df.bgr(), params)
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for a frame of {source}")
            out.append(buf.tobytes())
    return out


def measure_model_fps(
    jpegs: list[bytes], batch: int, workers: int | None = None, threads: int | None = None
) -> dict[str, Any]:
    """The inference stage's detectors called directly on `jpegs`: JPEG decode + letterbox + model + NMS.

    With no overrides this is exactly the stage's configuration (sessions x threads from InferenceSettings).
    """
    from inference import DetectorPool, InferenceSettings

    s = InferenceSettings()
    if workers is not None:
        s.workers = workers
    if threads is not None:
        s.threads = threads
    pool = DetectorPool.from_settings(s)
    pool.warmup()
    try:
        t0 = time.perf_counter()
        # Like the stage: whole batches on free sessions, results collected in order.
        futures = [pool.submit([(j, "jpeg") for j in jpegs[i : i + batch]]) for i in range(0, len(jpegs), batch)]
        for f in futures:
            f.result()
        wall = time.perf_counter() - t0
    finally:
        pool.close()
    label = f"{len(pool.detectors)} session(s) x {s.threads or 'all'} thread(s), batch {batch}"
    return {"fps": len(jpegs) / wall, "batch": batch, "wall_s": wall, "config": label}


@dataclass(frozen=True)
class _Api:
    """The API the demo reads its figures from, with the demo's key."""

    url: str
    token: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        import httpx

        return httpx.get(
            f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )


def _demo_token(dsn: str) -> str:
    """A read-only key for this demo run (`itscam keys revoke` it, or leave it: it only reads)."""
    from projections import migrate
    from projections.api.keys import create_key

    migrate(dsn)
    return create_key(dsn, "demo", ["read"], 60_000)[1]


def _print_table(counts: dict[str, int], frames: int) -> None:
    width = max([len(k) for k in counts] + [5])
    print(f"\n{'class':<{width}}  detections  per frame")
    for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{cls:<{width}}  {n:>10}  {n / max(frames, 1):>9.2f}")


def run_demo(
    source: str | None,
    once: bool,
    summary_path: str | None,
    camera_id: str | None,
    realtime: bool,
    max_frames: int | None = None,
) -> int:
    from deploy.stack.settings import StackSettings
    from inference import InferenceSettings
    from projections import ProjectorSettings
    from projections.api import ApiSettings
    from streams.ingest import camera_id_for, is_live, redact

    # Ctrl-C and SIGTERM both stop the demo and its stages cleanly (also when started from a script, where
    # SIGINT may be inherited as ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    src = source or default_source()
    live = is_live(src)
    if not live and not Path(src).is_file():
        raise DemoError(f"Demo source {src} does not exist. Pass SOURCE=path-or-rtsp-url.")
    if live and once and not max_frames:
        raise DemoError(f"{src} is a live camera and never ends: with ONCE=1 also give MAX_FRAMES=N.")
    cam = camera_id or f"{camera_id_for(src)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    api = ApiSettings()
    base = _Api(f"http://{api.host}:{api.port}", _demo_token(api.pg_dsn.get_secret_value()))
    stages = _Stages(StackSettings().logs)
    t_start = time.monotonic()
    inf_port, proj_port = InferenceSettings().metrics_port, ProjectorSettings().metrics_port
    try:
        stages.start("inference")
        stages.start("projector")
        stages.start("api")
        _wait("inference ready", lambda: metric_value(inf_port, "its_inference_ready") == 1, 120, stages)
        _wait("projector ready", lambda: metric_value(proj_port, "its_projector_ready") == 1, 60, stages)
        _wait("API ready", lambda: _ready(base), 60, stages)
        print(f"stages up; streaming {redact(src)} as camera {cam!r}", flush=True)
        print(f"analyst page: {base.url}/ui#key={base.token}", flush=True)
        cmd = ["ingest", "--source", src, "--camera-id", cam]
        cmd += ["--realtime"] if realtime else []
        cmd += ["--max-frames", str(max_frames)] if max_frames else []
        if live and not max_frames:
            _follow_live(stages, cmd, base, cam)
            return 0
        summary = _run_to_completion(stages, cmd, src, base, cam, live)
        summary["demo_wall_s"] = round(time.monotonic() - t_start, 1)
        if summary_path:
            Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
            print(f"summary written to {summary_path}")
        if not once:
            print(
                f"\nAPI up at {base.url} (try: curl -H 'Authorization: Bearer {base.token}' "
                f"{base.url}/v1/cameras/{cam}/detection-counts). Ctrl-C to stop.",
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


def _run_to_completion(stages: _Stages, cmd: list[str], src: str, base: _Api, cam: str, live: bool) -> dict[str, Any]:
    from inference import InferenceSettings
    from streams.ingest import IngestSettings, redact

    res = subprocess.run([sys.executable, "-m", "itscam", *cmd], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise DemoError(f"ingest failed ({res.returncode}): {res.stderr[-2000:]}")
    produced = json.loads(res.stdout.strip().splitlines()[-1])
    n = produced["frames"]
    print(f"ingest produced {n} frames; waiting for them to be projected", flush=True)
    camdoc = _wait(f"all {n} frames projected", lambda: _camera_done(base, cam, n), 600, stages)
    counts = base.get(f"/v1/cameras/{cam}/detection-counts", bucket="1h").json()
    first = datetime.fromisoformat(produced["first_captured_at"])
    last = datetime.fromisoformat(camdoc["last_projected_at"])
    pipeline_wall = (last - first).total_seconds()
    pipeline_fps = camdoc["frames"] / pipeline_wall
    totals = counts["totals"]["counts"]
    _print_table(totals, camdoc["frames"])
    print(f"\nframes: produced {n}, projected {camdoc['frames']}; detections {camdoc['detections']}")
    print(
        f"pipeline: {pipeline_fps:.2f} frames/s ({camdoc['frames']} frames in {pipeline_wall:.2f}s, first "
        "produced -> last projected)",
        flush=True,
    )
    model: dict[str, Any] = {"fps": None}
    if not live:
        inf, ing = InferenceSettings(), IngestSettings()
        jpegs = sampled_jpegs(src, ing.fps, ing.jpeg_quality)[:n]
        # The stage's own configuration, and the classic single session using every core at batch 1;
        # model_fps is the better of the two, so the ratio is never flattered by a weak baseline.
        runs = [measure_model_fps(jpegs, inf.max_batch), measure_model_fps(jpegs, 1, workers=1, threads=0)]
        if inf.max_batch != 1:
            runs.append(measure_model_fps(jpegs, 1))
        model = max(runs, key=lambda r: r["fps"])
        for r in runs:
            print(
                f"model direct: {r['fps']:.2f} frames/s, {r['config']} ({len(jpegs)} frames, "
                f"{r['wall_s']:.2f}s; decode+letterbox+model+NMS)"
            )
        print(f"pipeline_fps / model_fps = {pipeline_fps / model['fps']:.3f}")
    return {
        "source": redact(src),
        "camera_id": cam,
        "frames": camdoc["frames"],
        "frames_produced": n,
        "detections": camdoc["detections"],
        "counts": totals,
        "pipeline_fps": round(pipeline_fps, 3),
        "model_fps": round(model["fps"], 3) if model["fps"] else None,
        "ratio": round(pipeline_fps / model["fps"], 3) if model["fps"] else None,
        "model_fps_config": model.get("config"),
        "pipeline_wall_s": round(pipeline_wall, 3),
    }


def _follow_live(stages: _Stages, cmd: list[str], base: _Api, cam: str) -> None:
    """A live camera never ends: run ingest as one more stage and print the counts every 10 s until Ctrl-C."""
    stages.start(*cmd)
    print(
        f"following live camera; counts every 10 s from {base.url}/v1/cameras/{cam}/detection-counts. Ctrl-C to stop."
    )
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(10)
            stages.check_alive()
            r = base.get(f"/v1/cameras/{cam}/detection-counts", bucket="1h")
            if r.status_code == 200:
                _print_table(r.json()["totals"]["counts"], r.json()["totals"]["frames"])
    print("stopping")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _ready(base: _Api) -> bool:
    import httpx

    try:
        return base.get("/ready").status_code == 200
    except httpx.HTTPError:
        return False


def _camera_done(base: _Api, cam: str, n: int) -> dict[str, Any] | None:
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
    )


def add_parser(sub: Any) -> None:
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
    dm.set_defaults(fn=_cmd)
