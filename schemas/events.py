"""Typed views of the Avro records, so stages pass our own values rather than loose dicts.

The field names and types mirror the `.avsc` files one to one; `tests/schemas` checks that they agree.
"""

from datetime import datetime
from typing import NotRequired, TypedDict

__all__ = [
    "Calibration",
    "CameraConfig",
    "CameraStatusChanged",
    "CountingLine",
    "DeadLetter",
    "Detection",
    "DetectionsProduced",
    "FrameCaptured",
    "IncidentDetected",
    "LineCount",
    "ModelInfo",
    "Point",
    "Timings",
    "TrafficStatsWindow",
    "TurningMovement",
    "VehicleCounted",
    "Zone",
]


class FrameCaptured(TypedDict):
    camera_id: str
    frame_seq: int
    captured_at: datetime
    source_pts_us: int | None
    width: int
    height: int
    encoding: str
    image: bytes
    source: str
    # Absent from a record built by hand means null (the Avro default); a decoded record always has them.
    run_start_seq: NotRequired[int | None]
    run_index: NotRequired[int | None]


class ModelInfo(TypedDict):
    name: str
    version: str
    sha256: str
    backend: str
    precision: str
    imgsz: int
    class_names: list[str]


class Detection(TypedDict):
    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


class Timings(TypedDict):
    queued_ms: float
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    total_ms: float
    batch_size: int


class DetectionsProduced(TypedDict):
    camera_id: str
    frame_seq: int
    captured_at: datetime
    produced_at: datetime
    width: int
    height: int
    model: ModelInfo
    detections: list[Detection]
    timings: Timings
    run_start_seq: NotRequired[int | None]
    run_index: NotRequired[int | None]
    report_confidence: NotRequired[float]  # below it: low-score boxes for the tracker only (0: all reported)


class DeadLetter(TypedDict):
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None
    value: bytes | None
    stage: str
    error_type: str
    error: str
    failed_at: datetime
    value_size: int | None  # bytes in the original value
    value_sha256: str | None  # hex SHA-256 of the whole original value
    value_truncated: bool  # value holds only the original's first bytes


class CountingLine(TypedDict):
    line_id: str
    name: str
    x1: float
    y1: float
    x2: float
    y2: float
    in_direction: str  # LEFT_TO_RIGHT | RIGHT_TO_LEFT
    one_way: bool


class Point(TypedDict):
    x: float
    y: float


class Zone(TypedDict):
    zone_id: str
    name: str
    kind: str
    points: list[Point]


class Calibration(TypedDict):
    image_points: list[Point]
    ground_points: list[Point]


class CameraConfig(TypedDict):
    camera_id: str
    name: str
    source_url: str
    source_secret: str | None  # source_url sealed for ingest (schemas.credentials)
    protocol: str  # AUTO | RTSP_TCP | RTSP_UDP | HTTP_MJPEG | HLS | WHEP | FILE | FFMPEG
    target_fps: float
    max_width: int
    max_height: int
    jpeg_quality: int
    enabled: bool
    decode: str  # AUTO | ALL | KEYFRAMES
    loop: bool
    lines: list[CountingLine]
    zones: list[Zone]
    calibration: Calibration | None
    blur_persons: bool
    updated_at: datetime


class CameraStatusChanged(TypedDict):
    camera_id: str
    status: str  # ONLINE | DEGRADED | OFFLINE | DISABLED
    previous: str | None
    reason: str
    error: str | None
    changed_at: datetime
    last_frame_at: datetime | None
    measured_fps: float
    target_fps: float
    width: int | None
    height: int | None
    reconnects: int
    frames_produced: int
    frames_dropped: int
    worker: str
    source: str


class VehicleCounted(TypedDict):
    event_id: str
    camera_id: str
    line_id: str
    line_name: str
    track_id: int
    direction: str  # IN | OUT
    motion: str  # UP | DOWN | LEFT | RIGHT
    class_name: str
    class_id: int
    confidence: float
    frame_seq: int
    crossed_at: datetime
    x: float
    y: float
    speed_kmh: float | None


class IncidentDetected(TypedDict):
    incident_id: str
    camera_id: str
    type: str  # STOPPED_VEHICLE | WRONG_WAY | CONGESTION | CAMERA_OFFLINE
    state: str  # OPEN | CLOSED
    started_at: datetime
    ended_at: datetime | None
    track_id: int | None
    class_name: str | None
    line_id: str | None
    zone_id: str | None
    value: float | None
    detail: str


class LineCount(TypedDict):
    line_id: str
    class_name: str
    direction: str  # IN | OUT
    count: int


class TrafficStatsWindow(TypedDict):
    camera_id: str
    window_start: datetime
    window_end: datetime
    frames: int
    counts: list[LineCount]
    vehicles: int
    mean_speed_kmh: float | None
    speed_samples: int
    mean_occupancy: float
    late_frames: int
    closed_by: str  # NEXT_FRAME | CAMERA_STOPPED
    missing_frames: NotRequired[int]
    stale_frames: NotRequired[int]
    complete: NotRequired[bool]


class TurningMovement(TypedDict):
    movement_id: str
    camera_id: str
    track_id: int
    origin_zone_id: str
    origin_name: str
    destination_zone_id: str
    destination_name: str
    class_name: str
    class_id: int
    confidence: float
    frame_seq: int
    entered_at: datetime
    moved_at: datetime
    speed_kmh: float | None
