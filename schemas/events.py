"""Typed views of the Avro records, so stages pass our own values rather than loose dicts.

The field names and types mirror the `.avsc` files one to one; `tests/schemas` checks that they agree.
"""

from datetime import datetime
from typing import TypedDict

__all__ = [
    "DeadLetter",
    "Detection",
    "DetectionsProduced",
    "FrameCaptured",
    "ModelInfo",
    "Timings",
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


class ModelInfo(TypedDict):
    name: str
    sha256: str
    backend: str
    imgsz: int


class Detection(TypedDict):
    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


class Timings(TypedDict):
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
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
