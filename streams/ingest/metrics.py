"""Prometheus metrics of camera ingest."""

from prometheus_client import Counter, Histogram

__all__ = ["DECODED", "ENCODE_SECONDS", "PRODUCED"]

DECODED = Counter("its_ingest_frames_decoded_total", "Frames decoded from the source", ["camera_id"])
PRODUCED = Counter("its_ingest_frames_produced_total", "Sampled frames produced to Kafka", ["camera_id"])
ENCODE_SECONDS = Histogram(
    "its_ingest_encode_seconds", "JPEG encode time per frame", buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05)
)
