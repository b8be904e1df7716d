"""OpenVINO backend (CPU plugin): the same ONNX file as onnxruntime, run in bf16 where the CPU computes it natively.

Precision (ITS_INFERENCE_PRECISION): `fp32`, `bf16`, or `auto` = bf16 when the CPU plugin reports BF16 among its
optimisation capabilities (Intel AMX or AVX512-BF16, AMD Zen 4 and later), fp32 otherwise. bf16 keeps 8 bits of
mantissa: boxes move by a pixel or so and scores near the threshold can cross it, so every precision is checked
against fp32 ONNX Runtime on frames of the shared clips (tests/inference/backends/test_openvino.py: the accuracy
gate) before it is trusted with counts.

The sessions of a pool share one compiled model in OpenVINO's throughput mode (a stream per core, each pinned to
its core) and each runs its own infer request. Separate compiled models of one thread each were pinned to the same
core: on 2 cores, 30.0 images/s in bf16 against 59.9 shared (batches of 4 at 384x640).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from inference.backends.base import HostDecode
from inference.errors import ModelLoadError
from inference.model import read_metadata

__all__ = ["PRECISIONS", "OpenVinoBackend", "cpu_precisions"]

PRECISIONS = ("auto", "fp32", "bf16")
_HINT = {"fp32": "f32", "bf16": "bf16"}
_compiled: dict[tuple[str, str, int], Any] = {}  # (model file, precision, streams) -> compiled model, per process
_lock = threading.Lock()


def cpu_precisions(core: ov.Core | None = None) -> list[str]:
    """What the CPU plugin computes natively here, from its OPTIMIZATION_CAPABILITIES (e.g. ['FP32', 'BF16', ...])."""
    caps = (core or ov.Core()).get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return [str(c) for c in caps]


class OpenVinoBackend(HostDecode):
    name = "openvino"
    device = "cpu"

    def __init__(self, model_path: str, streams: int = 0, precision: str = "auto") -> None:
        """`streams`: parallel inferences of the shared compiled model (0: OpenVINO's choice, one per core)."""
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(
                f"Model file {path} does not exist. Set ITS_INFERENCE_MODEL_PATH to a YOLO11 ONNX file "
                "(this repo expects ../shared/models/yolo11n.onnx)."
            )
        if precision not in PRECISIONS:
            raise ValueError(
                f"Unknown OpenVINO precision {precision!r}; choose one of {', '.join(PRECISIONS)} with "
                "ITS_INFERENCE_PRECISION."
            )
        core = ov.Core()
        caps = cpu_precisions(core)
        if precision == "auto":
            precision = "bf16" if "BF16" in caps else "fp32"
        elif precision == "bf16" and "BF16" not in caps:
            raise ModelLoadError(
                f"ITS_INFERENCE_PRECISION=bf16, but this CPU has no native bf16 (OpenVINO reports {caps}): it needs "
                "Intel AMX or AVX512-BF16. Use fp32 or auto."
            )
        self.precision = precision
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _HINT[precision], "PERFORMANCE_HINT": "THROUGHPUT"}
        if streams > 0:
            config["NUM_STREAMS"] = streams
        try:
            model = core.read_model(str(path))
            with _lock:
                key = (str(path.resolve()), precision, streams)
                if key not in _compiled:
                    _compiled[key] = core.compile_model(model, "CPU", config)
                self.compiled = _compiled[key]
        except Exception as e:  # OpenVINO raises RuntimeError with its own text
            raise ModelLoadError(
                f"OpenVINO could not load {path}: {e}. Is it a YOLO11 ONNX export? Re-export it with "
                "`itscam model export --weights yolo11n.pt --format onnx`."
            ) from e
        self.request = self.compiled.create_infer_request()
        self.model_path = str(path)
        shape = model.input(0).get_partial_shape()
        if shape.rank.get_length() != 4 or shape[1].is_dynamic or shape[1].get_length() != 3:
            raise ModelLoadError(
                f"Model {path} takes input {shape}; a YOLO11 detector takes [batch, 3, height, width]. "
                "Point ITS_INFERENCE_MODEL_PATH at a YOLO11 detection export."
            )
        hw = (shape[2], shape[3])
        self.fixed_hw = (hw[0].get_length(), hw[1].get_length()) if all(d.is_static for d in hw) else None
        self.max_batch = shape[0].get_length() if shape[0].is_static else 0
        meta = read_metadata(path, _onnx_metadata(model), "onnx")
        if not meta.class_names:  # a plain ONNX file without Ultralytics metadata: name classes by id
            rows = model.output(0).get_partial_shape()[1]
            nc = rows.get_length() - 4 if rows.is_static else 0
            meta = replace(meta, class_names=[f"class{i}" for i in range(nc)])
        if self.fixed_hw:
            meta = replace(meta, imgsz=max(self.fixed_hw), max_batch=self.max_batch)
        self.meta = replace(meta, precision=precision)  # what ran, reported in every DetectionsProduced

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self.request.infer({0: batch})[self.compiled.output(0)]
        return np.asarray(out, dtype=np.float32)


def _onnx_metadata(model: Any) -> dict[str, str]:
    """The ONNX file's metadata_props (Ultralytics writes the class names, stride and imgsz there), which OpenVINO's
    ONNX reader keeps in the model's rt_info under "framework"."""
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    return {str(k): v.astype(str) for k, v in info["framework"].items()}
