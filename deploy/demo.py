"""`itscam demo`: every stage as its own process on one clip, counts read back from the API, fps measured.

pipeline_fps = frames through every stage / (last frame projected - first frame produced), from the read
models; model_fps = the same detector (backend, imgsz, threads) on the same JPEG frames, called directly in
this process once the pipeline is idle. Both are measured in one run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx

from deploy.stack.settings import StackSettings, repo_root

__all__ = ["default_source", "measure_model_fps", "run_demo"]


def default_source() -> str:
    shared = os.environ.get("ITS_SHARED_DIR") or str(repo_root().parent / "shared")
    return str(Path(shared) / "data" / "highway_overpass_720p.mp4")


class _Stages:
    """The long-running stage processes of the demo, logs under .stack/logs/demo-<stage>.log."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"demo-{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", name, *args],
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


def _metric(port: int, name: str) -> float | None:
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


def measure_model_fps(jpegs: list[bytes], batch: int) -> dict[str, float]:
    """Run the inference stage's detector directly on `jpegs`: decode + letterbox + model + NMS per frame."""
    from inference import Detector, InferenceSettings, decode_jpeg
    from inference.backends import load_backend

    s = InferenceSettings()
    det = Detector(load_backend(s.backend, s.model_path, s.threads), s.imgsz, s.conf, s.iou, s.max_det)
    det.warmup()
    t0 = time.perf_counter()
    for i in range(0, len(jpegs), batch):
        det.detect([decode_jpeg(j) for j in jpegs[i : i + batch]])
    wall = time.perf_counter() - t0
    return {"fps": len(jpegs) / wall, "batch": batch, "wall_s": wall}


def _print_table(counts: dict[str, int], frames: int) -> None:
    width = max([len(k) for k in counts] + [5])
    print(f"\n{'class':<{width}}  detections  per frame")
    for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{cls:<{width}}  {n:>10}  {n / max(frames, 1):>9.2f}")


def run_demo(source: str | None, once: bool, summary_path: str | None, camera_id: str | None, realtime: bool) -> int:
    from inference import InferenceSettings
    from projections.api import ApiSettings
    from streams.ingest import IngestSettings, camera_id_for

    src = source or default_source()
    if "://" not in src and not Path(src).is_file():
        raise FileNotFoundError(f"Demo source {src} does not exist. Pass SOURCE=path-or-rtsp-url.")
    cam = camera_id or f"{camera_id_for(src)}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    api = ApiSettings()
    inf = InferenceSettings()
    ing = IngestSettings()
    base = f"http://{api.host}:{api.port}"
    stages = _Stages(StackSettings().logs)
    t_start = time.monotonic()
    try:
        stages.start("inference")
        stages.start("projector")
        stages.start("api")
        _wait("inference ready", lambda: _metric(inf.metrics_port, "its_inference_ready") == 1, 120, stages)
        _wait("projector ready", lambda: _metric(9103, "its_projector_ready") == 1, 60, stages)
        _wait("API ready", lambda: _ready(base), 60, stages)
        print(f"stages up; streaming {src} as camera {cam!r}", flush=True)
        cmd = [sys.executable, "-m", "deploy.cli", "ingest", "--source", src, "--camera-id", cam]
        if realtime:
            cmd.append("--realtime")
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"ingest failed ({res.returncode}): {res.stderr[-2000:]}")
        produced = json.loads(res.stdout.strip().splitlines()[-1])
        n = produced["frames"]
        print(f"ingest produced {n} frames; waiting for them to be projected", flush=True)
        camdoc = _wait(f"all {n} frames projected", lambda: _camera_done(base, cam, n), 600, stages)
        counts = httpx.get(f"{base}/v1/cameras/{cam}/counts", params={"bucket": "1h"}, timeout=10).json()
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
        if "://" not in src:
            jpegs = sampled_jpegs(src, ing.fps, ing.jpeg_quality)
            runs = [measure_model_fps(jpegs, 1), measure_model_fps(jpegs, inf.max_batch)]
            model = max(runs, key=lambda r: r["fps"])
            for r in runs:
                print(
                    f"model direct: {r['fps']:.2f} frames/s at batch {r['batch']} ({len(jpegs)} frames, "
                    f"{r['wall_s']:.2f}s; decode+letterbox+model+NMS)"
                )
            print(f"pipeline_fps / model_fps = {pipeline_fps / model['fps']:.3f}")
        summary = {
            "source": src,
            "camera_id": cam,
            "frames": camdoc["frames"],
            "frames_produced": n,
            "detections": camdoc["detections"],
            "counts": totals,
            "pipeline_fps": round(pipeline_fps, 3),
            "model_fps": round(model["fps"], 3) if model["fps"] else None,
            "ratio": round(pipeline_fps / model["fps"], 3) if model["fps"] else None,
            "model_fps_batch": model.get("batch"),
            "pipeline_wall_s": round(pipeline_wall, 3),
            "demo_wall_s": round(time.monotonic() - t_start, 1),
        }
        if summary_path:
            Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
            print(f"summary written to {summary_path}")
        if not once:
            print(f"\nAPI up at {base} (try: curl {base}/v1/cameras/{cam}/counts). Ctrl-C to stop.", flush=True)
            try:
                while True:
                    stages.check_alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                print("stopping")
    finally:
        stages.stop()
    return 0


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _camera_done(base: str, cam: str, n: int) -> dict[str, Any] | None:
    try:
        r = httpx.get(f"{base}/v1/cameras/{cam}", timeout=5)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    doc: dict[str, Any] = r.json()
    return doc if doc["frames"] >= n else None
