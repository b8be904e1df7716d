"""YOLO11 inference: pre/post-processing, backends, the detector and the batching Kafka worker."""

from inference.detector import Detector, FrameResult
from inference.errors import BadFrameError, InferenceError, ModelLoadError
from inference.pool import DetectorPool
from inference.postprocess import nms, postprocess, scale_boxes
from inference.preprocess import Letterbox, decode_jpeg, letterbox, to_batch
from inference.settings import InferenceSettings, default_model_path

__all__ = [
    "BadFrameError",
    "Detector",
    "DetectorPool",
    "FrameResult",
    "InferenceError",
    "InferenceSettings",
    "Letterbox",
    "ModelLoadError",
    "decode_jpeg",
    "default_model_path",
    "letterbox",
    "nms",
    "postprocess",
    "scale_boxes",
    "to_batch",
]
