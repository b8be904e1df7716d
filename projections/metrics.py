"""Prometheus metrics of the projector."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["BATCH_SECONDS", "CACHE_ERRORS", "CACHE_REPAIRS", "DLQ_TOTAL", "EVENTS", "FENCED", "READY"]

EVENTS = Counter("its_projector_frames_total", "Detection events projected", ["result"])
DLQ_TOTAL = Counter("its_projector_dead_letters_total", "Events sent to the dead-letter topic", ["reason"])
BATCH_SECONDS = Histogram(
    "its_projector_batch_seconds", "Seconds per batch written", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
)
CACHE_ERRORS = Counter("its_projector_cache_errors_total", "Redis updates that failed (cache left stale)")
CACHE_REPAIRS = Counter(
    "its_projector_cache_repairs_total",
    "Cameras whose Redis keys were rebuilt from PostgreSQL after a failed Redis update (result: repaired, failed)",
    ["result"],
)
READY = Gauge("its_projector_ready", "1 once connected and partitions are assigned")
FENCED = Counter("its_projector_fenced_total", "Batches rolled back because another worker wrote the offsets")
