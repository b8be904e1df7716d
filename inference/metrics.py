"""Prometheus metrics of the inference stage."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_SIZE",
    "CAPTURE_TO_PRODUCED",
    "DETECTIONS_OUT",
    "DLQ_TOTAL",
    "FRAMES_EXPIRED",
    "FRAMES_IN",
    "FRAMES_OUT",
    "LAG_SECONDS",
    "READY",
    "STEP_SECONDS",
    "TXN_ABORTS",
]

FRAMES_IN = Counter("its_inference_frames_consumed_total", "Frame messages consumed")
FRAMES_OUT = Counter("its_inference_frames_detected_total", "Frames with detections produced")
# Boxes produced per class: with FRAMES_OUT it gives detections per frame, whose drift (a moved or fogged camera,
# a wrong model) the monitoring rules alert on.
DETECTIONS_OUT = Counter(
    "its_inference_detections_total", "Detections produced (after NMS and the class filter)", ["class_name"]
)
DLQ_TOTAL = Counter("its_inference_dead_letters_total", "Messages sent to the dead-letter topic", ["reason"])
BATCH_SIZE = Histogram("its_inference_batch_size", "Frames per model call", buckets=(1, 2, 4, 8, 16, 32, 64))
STEP_SECONDS = Histogram(
    "its_inference_step_seconds",
    "Seconds per batch step",
    ["step"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
TXN_ABORTS = Counter("its_inference_transaction_aborts_total", "Kafka transactions aborted and retried")
READY = Gauge("its_inference_ready", "1 once the model is loaded and partitions are assigned")
CAPTURE_TO_PRODUCED = Histogram(
    "its_inference_capture_to_produced_seconds",
    "Frame captured_at (ingest) -> its detections produced (the latency a downstream consumer sees, less commit)",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Backpressure (inference/backlog.py): per partition of the frames topic.
LAG_SECONDS = Gauge(
    "its_inference_lag_seconds",
    "Age of the next frame waiting in a frames partition (now - its Kafka timestamp); 0 when none waits",
    ["partition"],
)
FRAMES_EXPIRED = Counter(
    "its_inference_frames_expired_total",
    "Frames deleted by the frames topic's retention before inference read them (a jump in offsets after the "
    "consumer was reset to the log start)",
    ["partition"],
)
