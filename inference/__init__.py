"""YOLO11 inference: pre/post-processing, backends, the detector, the batching Kafka worker and model export."""

from inference.backends import PostParams, load_backend
from inference.detector import Detector, FrameResult, Prepared
from inference.errors import BadFrameError, InferenceError, ModelLoadError
from inference.model import ModelMetadata, read_metadata
from inference.pool import DetectorPool
from inference.postprocess import nms, postprocess, scale_boxes
from inference.preprocess import FrameLimits, Letterbox, check_frame, decode_jpeg, letterbox, to_batch
from inference.settings import InferenceSettings, default_model_path

__all__ = [
    "BadFrameError",
    "Detector",
    "DetectorPool",
    "FrameLimits",
    "FrameResult",
    "InferenceError",
    "InferenceSettings",
    "Letterbox",
    "ModelLoadError",
    "ModelMetadata",
    "PostParams",
    "Prepared",
    "check_frame",
    "decode_jpeg",
    "default_model_path",
    "letterbox",
    "load_backend",
    "nms",
    "postprocess",
    "read_metadata",
    "scale_boxes",
    "to_batch",
]
