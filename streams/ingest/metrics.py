"""Prometheus metrics of camera ingest, per camera (labels are removed when a camera leaves the worker)."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Enum, Gauge, Histogram

__all__ = [
    "CAMERAS",
    "CAPTURED",
    "DECODED",
    "DECODE_SECONDS",
    "DELIVERY_ERRORS",
    "DROPPED",
    "ENCODE_SECONDS",
    "PRODUCED",
    "RECONNECTS",
    "STATUS",
    "forget_camera",
]

DECODED = Counter("its_ingest_frames_decoded_total", "Frames decoded from the source", ["camera_id"])
DECODE_SECONDS = Counter("its_ingest_decode_seconds_total", "Time spent decoding, per camera", ["camera_id"])
CAPTURED = Counter("its_ingest_frames_captured_total", "Frames kept by the fps sampler", ["camera_id"])
DROPPED = Counter(
    "its_ingest_frames_dropped_total",
    "Frames dropped by policy: oldest (encoder busy), lag (reader behind the camera), queue_full (Kafka queue "
    "full), bad_frame (could not be encoded), stopped (not yet encoded when the camera stopped or moved)",
    ["camera_id", "reason"],
)
PRODUCED = Counter("its_ingest_frames_produced_total", "Frames acknowledged by Kafka", ["camera_id"])
DELIVERY_ERRORS = Counter(
    "its_ingest_delivery_errors_total", "Messages Kafka did not acknowledge", ["camera_id", "error"]
)
RECONNECTS = Counter("its_ingest_reconnects_total", "Reconnect attempts", ["camera_id"])
STATUS = Enum(
    "its_ingest_camera_status",
    "Current camera status",
    ["camera_id"],
    states=["STARTING", "ONLINE", "DEGRADED", "OFFLINE", "DISABLED"],
)
CAMERAS = Gauge("its_ingest_cameras", "Cameras this worker reads now")
ENCODE_SECONDS = Histogram(
    "its_ingest_encode_seconds", "Scale + JPEG encode time per frame", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05)
)

_PER_CAMERA = (DECODED, DECODE_SECONDS, CAPTURED, PRODUCED, RECONNECTS, STATUS)


def forget_camera(camera_id: str) -> None:
    """Drop a camera's series so a worker's /metrics lists only the cameras it reads (and memory stays flat)."""
    for metric in _PER_CAMERA:
        with contextlib.suppress(KeyError):
            metric.remove(camera_id)
    for metric in (DROPPED, DELIVERY_ERRORS):
        metric.remove_by_labels({"camera_id": camera_id})  # every reason/error of this camera
