"""Settings of the inference deployable, read from the environment (prefix ITS_INFERENCE_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.kafka import DEFAULT_BOOTSTRAP
from schemas.topics import DETECTIONS, DLQ, FRAMES

__all__ = ["InferenceSettings", "default_model_path"]


def default_model_path() -> str:
    """../shared/models/yolo11n.onnx next to the checkout, or under $ITS_SHARED_DIR when set."""
    shared = os.environ.get("ITS_SHARED_DIR") or str(Path(__file__).resolve().parents[2] / "shared")
    return str(Path(shared) / "models" / "yolo11n.onnx")


class InferenceSettings(BaseSettings):
    """Consume frames, run YOLO11 in batches, produce detections (exactly-once, Kafka transactions)."""

    model_config = SettingsConfigDict(
        env_prefix="ITS_INFERENCE_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    kafka_bootstrap: str = Field(
        DEFAULT_BOOTSTRAP, validation_alias=AliasChoices("ITS_KAFKA_BOOTSTRAP"), description="Kafka bootstrap servers."
    )
    model_path: str = Field(default_factory=default_model_path, description="YOLO11 ONNX file.")
    backend: str = Field("onnxruntime", description="Model backend: onnxruntime.")
    imgsz: int = Field(640, description="Longer side of the model input; shorter side padded to a multiple of 32.")
    conf: float = Field(0.25, description="Minimum class confidence kept.")
    iou: float = Field(0.7, description="NMS IoU threshold.")
    max_det: int = Field(300, description="Most detections kept per frame.")
    workers: int = Field(0, description="Model sessions run side by side; 0 = one per core.")
    threads: int = Field(1, description="ONNX Runtime intra-op threads per session; 0 = one per core.")
    spin: bool = Field(
        False, description="Let idle ONNX Runtime threads spin-wait (faster alone, worse when sharing cores)."
    )
    max_batch: int = Field(4, description="Most frames per model call (CPU sessions are fastest at 1-4).")
    commit_interval_ms: int = Field(
        100, description="How often the Kafka transaction (detections + consumed offsets) is committed."
    )
    max_wait_ms: int = Field(20, description="Longest wait to fill a batch once one frame is there.")
    group_id: str = Field("its-inference", description="Kafka consumer group.")
    transactional_id: str = Field(
        default_factory=lambda: f"its-inference-{socket.gethostname()}-{os.getpid()}",
        description="Kafka transactional.id of this instance's producer.",
    )
    frames_topic: str = Field(FRAMES.name, description="Topic of FrameCaptured events.")
    detections_topic: str = Field(DETECTIONS.name, description="Topic of DetectionsProduced events.")
    dlq_topic: str = Field(DLQ.name, description="Dead-letter topic.")
    metrics_port: int = Field(9102, description="Prometheus /metrics port; 0 disables it.")
