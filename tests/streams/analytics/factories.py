"""Synthetic traffic for the analytics tests: detection records of one camera from simulated vehicles.

Each `Car` is a box that moves at a constant pixel velocity from its start frame; `traffic` turns a list of them
into the `DetectionsProduced` records a detector would emit for that camera, frame by frame, so the analytics
can be driven (in-process or through Kafka) without a model or a video. `line_camera` is a `CameraConfig` with
one horizontal counting line.

Everything is deterministic: the same arguments (and `seed`) give equal records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.cameras import camera_config
from schemas.events import CameraConfig, CameraStatusChanged, Detection, DetectionsProduced, ModelInfo

__all__ = ["T0", "Car", "camera_status", "line_camera", "traffic"]

#: Default capture time of frame_seq 0: a whole minute, so the default 60 s windows start at frame 0.
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

_MODEL: ModelInfo = {
    "name": "synthetic",
    "version": "0",
    "sha256": "0" * 64,
    "backend": "synthetic",
    "precision": "fp32",
    "imgsz": 640,
    "class_names": ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
}


@dataclass(frozen=True)
class Car:
    """One simulated vehicle (or any object): a w x h pixel box whose centre is at (x, y) at frame `start_frame`
    (a frame index of the `traffic` call, 0-based) and moves by (vx, vy) pixels per frame (y grows downwards).

    It is detected in `frames` consecutive frames (None: until the last frame), with class `class_name` /
    `class_id` (COCO ids: car 2, motorcycle 3, bus 5, truck 7, person 0) and confidence `conf`.
    """

    start_frame: int
    x: float
    y: float
    vx: float
    vy: float
    w: float = 80.0
    h: float = 60.0
    frames: int | None = None
    class_name: str = "car"
    class_id: int = 2
    conf: float = 0.9

    def center(self, frame: int) -> tuple[float, float] | None:
        """The box centre in frame index `frame`, or None when the car is not in that frame."""
        k = frame - self.start_frame
        if k < 0 or (self.frames is not None and k >= self.frames):
            return None
        return self.x + k * self.vx, self.y + k * self.vy


def traffic(
    camera_id: str,
    cars: list[Car],
    n_frames: int,
    fps: float = 10.0,
    width: int = 1280,
    height: int = 720,
    seq0: int = 0,
    t0: datetime = T0,
    jitter: float = 0.0,
    seed: int = 0,
) -> list[DetectionsProduced]:
    """`n_frames` consecutive DetectionsProduced records of `camera_id`, one per frame.

    Frame index i (0..n_frames-1) has frame_seq = seq0 + i and captured_at = t0 + frame_seq / fps, so a call with
    seq0 = the previous call's n_frames continues the same timeline. Each car present in a frame contributes one
    detection (in `cars` order), its box clipped to the width x height frame; a box entirely outside is left out.
    With `jitter` > 0 every box edge moves by a uniform random offset in [-jitter, +jitter] pixels, drawn from
    random.Random(seed).
    """
    rng = random.Random(seed)
    out: list[DetectionsProduced] = []
    for i in range(n_frames):
        seq = seq0 + i
        captured = t0 + timedelta(seconds=seq / fps)
        dets: list[Detection] = []
        for car in cars:
            c = car.center(i)
            if c is None:
                continue
            box = [c[0] - car.w / 2, c[1] - car.h / 2, c[0] + car.w / 2, c[1] + car.h / 2]
            if jitter:
                box = [v + rng.uniform(-jitter, jitter) for v in box]
            x1, x2 = min(max(box[0], 0.0), width), min(max(box[2], 0.0), width)
            y1, y2 = min(max(box[1], 0.0), height), min(max(box[3], 0.0), height)
            if x2 <= x1 or y2 <= y1:
                continue
            dets.append(
                {
                    "class_id": car.class_id,
                    "class_name": car.class_name,
                    "confidence": car.conf,
                    "x1": x1,
                    "y1": y1,
                    "x2": x2,
                    "y2": y2,
                }
            )
        out.append(
            {
                "camera_id": camera_id,
                "frame_seq": seq,
                "captured_at": captured,
                "produced_at": captured + timedelta(milliseconds=50),
                "width": width,
                "height": height,
                "model": _MODEL,
                "detections": dets,
                "timings": {
                    "queued_ms": 1.0,
                    "decode_ms": 2.0,
                    "preprocess_ms": 1.0,
                    "inference_ms": 5.0,
                    "postprocess_ms": 1.0,
                    "total_ms": 10.0,
                    "batch_size": 1,
                },
            }
        )
    return out


def line_camera(
    camera_id: str,
    y: float = 0.5,
    x1: float = 0.0,
    x2: float = 1.0,
    *,
    line_id: str = "line-1",
    in_direction: str = "LEFT_TO_RIGHT",
    one_way: bool = False,
    **fields: Any,
) -> CameraConfig:
    """A validated CameraConfig with one horizontal counting line `line_id` from (x1, y) to (x2, y), normalised.

    Drawn left to right with the default in_direction LEFT_TO_RIGHT, a vehicle crossing it downwards is IN.
    `fields` are any other CameraConfig fields (zones, calibration, target_fps, ...); `lines=[...]` replaces the
    default line (then y, x1, x2, line_id, in_direction and one_way are unused). updated_at defaults to T0 so that
    equal calls give equal configurations, and target_fps to 10 like `traffic`'s fps.
    """
    fields.setdefault("updated_at", T0)
    fields.setdefault("target_fps", 10.0)
    line = {
        "line_id": line_id,
        "name": line_id,
        "x1": x1,
        "y1": y,
        "x2": x2,
        "y2": y,
        "in_direction": in_direction,
        "one_way": one_way,
    }
    fields.setdefault("lines", [line])
    return camera_config(camera_id, f"file:///synthetic/{camera_id}.mp4", **fields)


def camera_status(camera_id: str, status: str, changed_at: datetime, reason: str = "test") -> CameraStatusChanged:
    """A CameraStatusChanged record (ONLINE | DEGRADED | OFFLINE | DISABLED) at `changed_at`."""
    return {
        "camera_id": camera_id,
        "status": status,
        "previous": None,
        "reason": reason,
        "error": None,
        "changed_at": changed_at,
        "last_frame_at": None,
        "measured_fps": 0.0,
        "target_fps": 10.0,
        "width": None,
        "height": None,
        "reconnects": 0,
        "frames_produced": 0,
        "frames_dropped": 0,
        "worker": "test",
        "source": "synthetic",
    }
