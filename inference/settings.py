"""Settings of the inference deployable, read from the environment (prefix ITS_INFERENCE_)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from eventbus.settings import DeployableSettings, metrics_port_field
from schemas.topics import DETECTIONS, DLQ, FRAMES

__all__ = ["InferenceSettings", "default_model_path"]


def default_model_path() -> str:
    """../shared/models/yolo11n.onnx next to the checkout, or under $ITS_SHARED_DIR when set."""
    shared = os.environ.get("ITS_SHARED_DIR") or str(Path(__file__).resolve().parents[2] / "shared")
    return str(Path(shared) / "models" / "yolo11n.onnx")


class InferenceSettings(DeployableSettings):
    """Consume frames, run YOLO11 in batches, produce detections (exactly-once, Kafka transactions)."""

    model_config = SettingsConfigDict(env_prefix="ITS_INFERENCE_", protected_namespaces=())

    model_path: str = Field(
        default_factory=default_model_path,
        description="Model file: .onnx (onnxruntime), .pt (torch) or .engine (tensorrt).",
    )
    backend: Literal["onnxruntime", "openvino", "torch", "tensorrt", "auto"] = Field(
        "onnxruntime",
        description="Model backend: onnxruntime (CPU), openvino (CPU, bf16 where the CPU has it), torch (Ultralytics, "
        "CUDA FP16), tensorrt, or auto: the fastest CPU runtime and precision passing the accuracy gate here, chosen "
        "at start-up (inference/autoselect.py).",
    )
    gate_data: str = Field(
        "",
        description="auto: folder of traffic images or clips the accuracy gate runs on (default: the shared clips, "
        "data/ beside the model's models/).",
    )
    int8_model_path: str = Field(
        "",
        description="auto: the model's INT8 OpenVINO IR (`itscam model quantize`); default <stem>.int8.xml beside it.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="OpenVINO precision: bf16 where the CPU computes it natively (AMX, AVX512-BF16), fp32 elsewhere "
        "(auto), or either forced.",
    )
    device: str = Field("cuda:0", description="GPU of the torch and tensorrt backends.")
    half: bool = Field(True, description="FP16 for the torch backend (needs CUDA).")
    imgsz: int = Field(640, description="Longer side of the model input; shorter side padded to a multiple of 32.")
    conf: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Reported confidence: read models, caches and the API keep the detections above it.",
    )
    low_conf: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Lowest confidence emitted. Boxes from it up to `conf` are low-score candidates for the "
        "tracker's second association (ByteTrack), marked by the event's report_confidence; = conf emits none.",
    )
    iou: float = Field(0.7, gt=0, le=1, description="NMS IoU threshold.")
    max_det: int = Field(300, ge=1, description="Most detections kept per frame.")
    classes: str = Field(
        "person,bicycle,car,motorcycle,bus,truck",
        description="Classes kept (names or ids, comma-separated; 'all' keeps every class).",
    )
    max_image_pixels: int = Field(
        4096 * 4096, ge=1, description="Frames with more pixels go to the dead-letter topic (image-too-large)."
    )
    reduced_decode: bool = Field(
        True, description="Decode frames at least 2x the model input at 1/2, 1/4 or 1/8 scale inside libjpeg."
    )
    workers: int = Field(0, description="Model sessions run side by side; 0 = one per core (CPU backends), 1 (GPU).")
    decode_workers: int = Field(
        0, description="Threads decoding JPEGs; 0 = one per session (onnxruntime), one per core (GPU)."
    )
    inflight_batches: int = Field(
        0, ge=0, description="Batches decoded or queued ahead of the model; 0 = 2 per session + 1."
    )
    threads: int = Field(
        1,
        description="ONNX Runtime intra-op threads per session; 0 = one per core. (OpenVINO's sessions share one "
        "compiled model in throughput mode, a stream per core.)",
    )
    spin: bool = Field(
        False, description="Let idle ONNX Runtime threads spin-wait (faster alone, worse when sharing cores)."
    )
    max_batch: int = Field(4, ge=1, description="Most frames per model call (CPU sessions: 1-4; GPU: 32-64).")
    commit_interval_ms: int = Field(
        100, description="How often the Kafka transaction (detections + consumed offsets) is committed."
    )
    max_wait_ms: int = Field(20, description="Longest wait to fill a batch once one frame is there.")
    transaction_timeout_ms: int = Field(
        10000,
        description="Kafka transaction.timeout.ms: how long a crashed worker's open transaction can hold back "
        "read_committed consumers before the broker aborts it (a restart with the same transactional.id aborts it "
        "at once).",
    )
    group_id: str = Field("its-inference", description="Kafka consumer group.")
    session_timeout_ms: int = Field(
        45_000,
        ge=1,
        description="Kafka session.timeout.ms: a replica that stops heartbeating (crashed, paused) loses its frames "
        "partitions to the others after this long; its late transaction is then fenced.",
    )
    transactional_id: str = Field(
        default_factory=lambda: f"its-inference-{socket.gethostname()}-{os.getpid()}",
        description="Kafka transactional.id of this instance's producer. Give each replica a stable one (the pod "
        "name of a StatefulSet) so a restarted replica fences its predecessor at once.",
    )
    frames_topic: str = Field(FRAMES.name, description="Topic of FrameCaptured events.")
    detections_topic: str = Field(DETECTIONS.name, description="Topic of DetectionsProduced events.")
    dlq_topic: str = Field(DLQ.name, description="Dead-letter topic.")
    metrics_port: int = metrics_port_field(9102)

    @model_validator(mode="after")
    def _tiers(self) -> InferenceSettings:
        if self.low_conf > self.conf:
            raise ValueError(
                f"ITS_INFERENCE_LOW_CONF={self.low_conf} is above ITS_INFERENCE_CONF={self.conf}: the low-score tier "
                "lies below the reported one; set ITS_INFERENCE_LOW_CONF to at most ITS_INFERENCE_CONF (equal: none)"
            )
        return self
