"""Detections recorded from the shared clips, for `itscam bench analytics`: real traffic, replayed as many cameras.

The clips of --data go once through the real pipeline (ingest -> inference at 10 fps, bench/counting.py's run);
the committed DetectionsProduced payloads are kept per clip under <stack home>/cache, keyed by the clips' and the
model's SHA-256, the fps and the input size, so later runs (and other camera counts) replay the same detections
without a model. A replayed camera is a clip's payloads with the camera id replaced, and the clip's hand-counting
line as its counting line.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from inference.model import file_sha256

if TYPE_CHECKING:
    from bench.counting import Clip
    from schemas.events import CameraConfig

__all__ = ["cache_path", "clip_camera", "recorded_detections", "renamed"]


def cache_path(cache_dir: Path, clips: list[Clip], model_path: str, fps: float, imgsz: int) -> Path:
    """Where the recording of these clips with this model, rate, size and confidences is kept (a content key)."""
    from inference.settings import InferenceSettings

    s = InferenceSettings()  # the recording's inference reads the same environment: its tiers are these
    key = json.dumps(
        {
            "clips": sorted(file_sha256(c.path) for c in clips),
            "model": file_sha256(Path(model_path)),
            "fps": fps,
            "imgsz": imgsz,
            "conf": [s.conf, s.low_conf],
        }
    )
    return cache_dir / f"analytics-detections-{hashlib.sha256(key.encode()).hexdigest()[:16]}.msgpack"


def recorded_detections(
    clips: list[Clip],
    bootstrap: str,
    model_path: str,
    cache_dir: Path,
    fps: float = 10.0,
    imgsz: int = 640,
    log: Any = print,
) -> dict[str, list[bytes]]:
    """Clip name -> its DetectionsProduced payloads in frame order (recorded once, then read from the cache)."""
    path = cache_path(cache_dir, clips, model_path, fps, imgsz)
    if path.is_file():
        data: dict[str, list[bytes]] = msgpack.unpackb(path.read_bytes(), raw=False)
        return data
    from bench.counting import run_pipeline
    from schemas import codec

    log(f"recording the detections of {len(clips)} clips at {fps:g} fps through ingest and inference (once) ...")
    run = run_pipeline(clips, bootstrap, fps, imgsz, model_path)
    dec = codec("DetectionsProduced").decode
    by_camera: dict[str, dict[int, bytes]] = {}
    for payload in run.detections:
        ev = dec(payload)
        by_camera.setdefault(ev["camera_id"], {})[ev["frame_seq"]] = payload
    out: dict[str, list[bytes]] = {}
    for c in clips:
        stem = f"bench-{Path(c.name).stem}-"
        frames = next((f for cam, f in by_camera.items() if cam.startswith(stem)), None)
        if not frames:
            raise RuntimeError(f"the recording run produced no detections for {c.name}; see its logs")
        out[c.name] = [frames[seq] for seq in sorted(frames)]
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(msgpack.packb(out, use_bin_type=True))
    tmp.replace(path)
    log(f"recorded {sum(map(len, out.values()))} frames of detections into {path}")
    return out


def renamed(payloads: list[bytes], camera_id: str) -> list[bytes]:
    """The payloads as another camera's: only camera_id changes (frame_seq, times and boxes stay)."""
    from schemas import codec

    c = codec("DetectionsProduced")
    out = []
    for p in payloads:
        ev = c.decode(p)
        ev["camera_id"] = camera_id
        out.append(c.encode(ev))
    return out


def clip_camera(camera_id: str, clip: Clip) -> CameraConfig:
    """A camera counting on the clip's hand-counting line (normalised), at 10 fps."""
    from schemas.cameras import camera_config

    (x1, y1), (x2, y2) = clip.line
    line = {
        "line_id": "count",
        "name": "hand-count line",
        "x1": x1 / clip.width,
        "y1": y1 / clip.height,
        "x2": x2 / clip.width,
        "y2": y2 / clip.height,
    }
    return camera_config(camera_id, f"file:///recorded/{clip.name}", target_fps=10.0, lines=[line])
