"""The chaos run's fixed input: the shared clips sampled into JPEG frames once, as several cameras, with capture
times from the clip's own clock (never the wall clock), so every run (the clean one and the one under faults) sees
byte-identical FrameCaptured records and the read models can be compared row for row.

The frames are cached by content under `<home>/frames/<digest>/` (the digest covers each clip's bytes and every
sampling parameter): a JSON index plus one .jpg per sampled frame.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2

from bench.counting import Clip, approach_zones
from inference.model import file_sha256
from schemas.cameras import camera_config
from schemas.events import FrameCaptured

__all__ = ["EPOCH", "Camera", "FrameSet", "load_frames"]

#: capture time of every camera's first frame: fixed, so the 1-minute windows and every timestamp repeat exactly
EPOCH = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Camera:
    camera_id: str
    clip: str  # the clip's file name
    start: int  # index of the clip's sampled frame this camera begins with


@dataclass(frozen=True)
class FrameSet:
    """Sampled JPEG frames per clip and the cameras that replay them."""

    fps: float
    frames: int  # per camera
    jpegs: dict[str, list[bytes]]  # clip -> sampled frames in order
    sizes: dict[str, tuple[int, int]]  # clip -> (width, height) of the frames
    cameras: list[Camera]
    configs: dict[str, dict[str, Any]]  # camera id -> CameraConfig (counting line, approach zones)
    digest: str

    def event(self, cam: Camera, seq: int) -> FrameCaptured:
        """The FrameCaptured record of `cam`'s frame `seq`: a pure function of the frame set."""
        jpegs = self.jpegs[cam.clip]
        w, h = self.sizes[cam.clip]
        return {
            "camera_id": cam.camera_id,
            "frame_seq": seq,
            "captured_at": EPOCH + timedelta(microseconds=round(seq * 1_000_000 / self.fps)),
            "source_pts_us": round(seq * 1_000_000 / self.fps),
            "width": w,
            "height": h,
            "encoding": "jpeg",
            "image": jpegs[(cam.start + seq) % len(jpegs)],
            "source": cam.clip,
        }


def _sample(path: Path, fps: float, n: int, width: int, quality: int) -> tuple[list[bytes], tuple[int, int]]:
    """The first `n` frames of `path` sampled at `fps`, scaled to `width` (aspect kept), JPEG-encoded."""
    out: list[bytes] = []
    size = (0, 0)
    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        rate = float(stream.average_rate or 30)
        step = rate / fps
        for i, frame in enumerate(inp.decode(video=0)):
            if i < len(out) * step:
                continue
            h = round(frame.height * width / frame.width) // 2 * 2
            img = frame.reformat(width=width, height=h, format="bgr24").to_ndarray()
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise RuntimeError(f"OpenCV could not JPEG-encode frame {i} of {path}: check the cv2 install.")
            out.append(buf.tobytes())
            size = (width, h)
            if len(out) >= n:
                break
    if not out:
        raise RuntimeError(f"{path} yielded no frames: is it a video file PyAV can decode?")
    return out, size


def _camera_id(base: str, partition: int) -> str:
    """`base`, or `base` with a letter, whose key the producers' partitioner (librdkafka's consistent: CRC32 of the
    key) puts on `partition` of two: the cameras split evenly over the replicas, whatever the clips' names."""
    for suffix in ("", *"abcdefghijklmnopqrstuvwxyz"):
        if zlib.crc32(f"{base}{suffix}".encode()) % 2 == partition:
            return f"{base}{suffix}"
    raise AssertionError("unreachable: one of 27 keys lands on each partition")


def load_frames(
    clips: list[Clip], home: Path, *, fps: float, frames: int, per_clip: int, width: int = 640, quality: int = 85
) -> FrameSet:
    """The frame set for `clips` (`per_clip` cameras each, `frames` frames per camera), from the cache when this
    exact set was sampled before."""
    key = {"clips": {c.name: file_sha256(c.path) for c in clips}, "fps": fps, "frames": frames, "width": width}
    key |= {"quality": quality, "per_clip": per_clip}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = home / "frames" / digest
    index = folder / "index.json"
    jpegs: dict[str, list[bytes]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    if index.is_file():
        meta = json.loads(index.read_text())
        for c in clips:
            n = meta["counts"][c.name]
            jpegs[c.name] = [(folder / f"{Path(c.name).stem}-{i:05d}.jpg").read_bytes() for i in range(n)]
            sizes[c.name] = tuple(meta["sizes"][c.name])
    else:
        folder.mkdir(parents=True, exist_ok=True)
        for c in clips:
            jpegs[c.name], sizes[c.name] = _sample(c.path, fps, frames, width, quality)
            for i, jpg in enumerate(jpegs[c.name]):
                (folder / f"{Path(c.name).stem}-{i:05d}.jpg").write_bytes(jpg)
        counts = {name: len(v) for name, v in jpegs.items()}
        index.write_text(json.dumps({"key": key, "counts": counts, "sizes": sizes}))
    cameras: list[Camera] = []
    configs: dict[str, dict[str, Any]] = {}
    for c in clips:
        n = len(jpegs[c.name])
        for k in range(per_clip):
            cam = Camera(_camera_id(f"chaos-{Path(c.name).stem}-{k}", len(cameras) % 2), c.name, (k * 7) % n)
            cameras.append(cam)
            (x1, y1), (x2, y2) = c.line
            line = {"line_id": "gt", "name": "ground truth", "x1": x1 / c.width, "y1": y1 / c.height}
            line |= {"x2": x2 / c.width, "y2": y2 / c.height}
            cfg = camera_config(cam.camera_id, str(c.path), target_fps=fps, lines=[line], zones=approach_zones(c))
            configs[cam.camera_id] = dict(cfg)
    return FrameSet(fps, frames, jpegs, sizes, cameras, configs, digest)
