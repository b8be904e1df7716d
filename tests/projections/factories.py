"""Factories of DetectionsProduced events for projection tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import DetectionsProduced

T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def detections_event(camera: str, seq: int, classes: list[str], at: datetime | None = None) -> DetectionsProduced:
    ts = at or T0 + timedelta(milliseconds=100 * seq)
    return {
        "camera_id": camera,
        "frame_seq": seq,
        "captured_at": ts,
        "produced_at": ts + timedelta(milliseconds=50),
        "width": 1280,
        "height": 720,
        "model": {
            "name": "yolo11n",
            "version": "ab" * 6,
            "sha256": "ab" * 32,
            "backend": "onnxruntime",
            "precision": "fp32",
            "imgsz": 640,
            "class_names": ["person", "car"],
        },
        "detections": [
            {
                "class_id": i,
                "class_name": c,
                "confidence": 0.5,
                "x1": 10.0 * i,
                "y1": 1.0,
                "x2": 10.0 * i + 5,
                "y2": 9.0,
            }
            for i, c in enumerate(classes)
        ],
        "timings": {
            "queued_ms": 5.0,
            "decode_ms": 1.0,
            "preprocess_ms": 1.0,
            "inference_ms": 20.0,
            "postprocess_ms": 1.0,
            "total_ms": 30.0,
            "batch_size": 1,
        },
    }
