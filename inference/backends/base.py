"""The interface every model backend implements, and the checks they share.

A backend runs the YOLO11 graph (NCHW float RGB in [0, 1] -> [N, 4 + nc, anchors]) and turns its raw output
into boxes. Decoding belongs to the backend because the output lives where the backend put it: in host memory
for ONNX Runtime and TensorRT (numpy NMS), on the GPU for PyTorch (torchvision NMS there, only boxes copied back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from inference.model import ModelMetadata, check_output_shape
from inference.postprocess import postprocess

__all__ = ["Backend", "HostDecode", "PostParams", "check_model"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PostParams:
    """Thresholds and the class filter applied when decoding boxes."""

    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    classes: tuple[int, ...] | None = None  # keep only these class ids; None = all


class Backend(Protocol):
    name: str  # onnxruntime | torch | tensorrt
    device: str  # cpu | cuda:0 ...
    model_path: str
    meta: ModelMetadata
    #: (h, w) when the model only takes one input size (static ONNX, TensorRT engine); None = any multiple of 32
    fixed_hw: tuple[int, int] | None
    #: largest batch one call takes; 0 = any
    max_batch: int

    def run(self, batch: FloatArray) -> Any:
        """Raw output for an NCHW float32 batch, wherever the backend keeps it (host array or device tensor)."""
        ...

    def decode(
        self, raw: Any, input_hw: tuple[int, int], orig_shapes: list[tuple[int, int]], params: PostParams
    ) -> list[FloatArray]:
        """Per image, [n, 6] x1, y1, x2, y2, confidence, class_id in original-frame pixels."""
        ...


class HostDecode:
    """`decode` for backends whose output is a host numpy array: vectorised numpy candidate filter + NMS."""

    def decode(
        self, raw: Any, input_hw: tuple[int, int], orig_shapes: list[tuple[int, int]], params: PostParams
    ) -> list[FloatArray]:
        classes = np.asarray(params.classes, np.intp) if params.classes is not None else None
        return [
            postprocess(raw[k], input_hw, shape, params.conf, params.iou, params.max_det, classes)
            for k, shape in enumerate(orig_shapes)
        ]


def check_model(backend: Backend, imgsz: int) -> None:
    """Run one grey image through the model and check its output is a YOLO11 detection output with one row per
    class name (raises ModelLoadError naming the file and the fix)."""
    h, w = backend.fixed_hw or (imgsz, imgsz)
    raw = backend.run(np.full((1, 3, h, w), 114 / 255, np.float32))
    names = backend.meta.class_names
    check_output_shape(backend.model_path, tuple(raw.shape), 1, h, w, len(names) or None)
