"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from inference.errors import ModelLoadError

__all__ = ["OnnxRuntimeBackend"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, model_path: str, threads: int = 0, spin: bool = False) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist. Set ITS_INFERENCE_MODEL_PATH to a YOLO11 ONNX file "
                "(this repo expects ../shared/models/yolo11n.onnx; in the wild, export one with "
                "`yolo export model=yolo11n.pt format=onnx dynamic=True`)."
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
            raise ModelLoadError(f"ONNX Runtime could not load {path}: {e}. Is it a YOLO11 ONNX export?") from e
        self.model_path = str(path)
        self.sha256 = _sha256(path)
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        names = ast.literal_eval(meta["names"]) if "names" in meta else {}
        nc = int(self.session.get_outputs()[0].shape[1] or 84) - 4
        self.class_names = [str(names.get(i, f"class{i}")) for i in range(nc)]

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self.session.run(None, {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)
