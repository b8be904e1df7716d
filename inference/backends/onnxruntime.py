"""ONNX Runtime backend (CPU execution provider): the default in development and CI."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from inference.backends.base import HostDecode
from inference.errors import ModelLoadError
from inference.model import read_metadata

__all__ = ["OnnxRuntimeBackend"]


class OnnxRuntimeBackend(HostDecode):
    name = "onnxruntime"
    device = "cpu"

    def __init__(self, model_path: str, threads: int = 0, spin: bool = False) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist. Set ITS_INFERENCE_MODEL_PATH to a YOLO11 ONNX file "
                "(this repo expects ../shared/models/yolo11n.onnx; make one with "
                "`itscam model export --weights yolo11n.pt --format onnx`)."
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Spinning idle intra-op threads win a little when the model owns the cores, but steal them from
        # the other stages when it does not.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(
                f"ONNX Runtime could not load {path}: {e}. Is it a YOLO11 ONNX export? Re-export it with "
                "`itscam model export --weights yolo11n.pt --format onnx`."
            ) from e
        self.model_path = str(path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise ModelLoadError(
                f"Model {path} takes input {inp.name} {shape}; a YOLO11 detector takes [batch, 3, height, width]. "
                "Point ITS_INFERENCE_MODEL_PATH at a YOLO11 detection export."
            )
        hw = shape[2:]
        self.fixed_hw = (int(hw[0]), int(hw[1])) if all(isinstance(d, int) for d in hw) else None
        self.max_batch = shape[0] if isinstance(shape[0], int) else 0
        meta = read_metadata(path, self.session.get_modelmeta().custom_metadata_map, "onnx")
        if not meta.class_names:  # a plain ONNX file without Ultralytics metadata: name classes by id
            rows = self.session.get_outputs()[0].shape[1]
            nc = rows - 4 if isinstance(rows, int) else 0
            meta = replace(meta, class_names=[f"class{i}" for i in range(nc)])
        if self.fixed_hw:
            meta = replace(meta, imgsz=max(self.fixed_hw), max_batch=self.max_batch)
        self.meta = meta

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self.session.run(None, {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)
