"""OpenVINO backend (CPU plugin): the same ONNX file as onnxruntime, run in bf16 where the CPU computes it natively.

Precision (ITS_INFERENCE_PRECISION): `fp32`, `bf16`, or `auto` = bf16 when the CPU plugin reports BF16 among its
optimisation capabilities (Intel AMX or AVX512-BF16, AMD Zen 4 and later), fp32 otherwise. bf16 keeps 8 bits of
mantissa: boxes move by a pixel or so and scores near the threshold can cross it, so every precision is checked
against fp32 ONNX Runtime on frames of the shared clips (tests/inference/backends/test_openvino.py: the accuracy
gate) before it is trusted with counts.

The sessions of a pool share one compiled model in OpenVINO's throughput mode (a stream per core, each pinned to
its core) and each runs its own infer request. Separate compiled models of one thread each were pinned to the same
core: on 2 cores, 30.0 images/s in bf16 against 59.9 shared (batches of 4 at 384x640).

It also loads an OpenVINO IR (`.xml` + `.bin`), such as the INT8 model `itscam model quantize` writes. A model with
quantized (FakeQuantize) layers reports precision int8: those layers run in INT8 whatever the hint says, and the
hint above (auto: bf16 where native) applies to the layers left in floating point. INT8 does not pass the accuracy
gate on the shared clips (inference/quantize.py says by how much).
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

__all__ = ["PRECISIONS", "SUFFIXES", "OpenVinoBackend", "cpu_precisions", "is_quantized", "onnx_metadata"]

PRECISIONS = ("auto", "fp32", "bf16")
SUFFIXES = (".onnx", ".xml")  # ONNX, OpenVINO IR
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
                "(this repo expects ../shared/models/yolo11n.onnx) or an OpenVINO IR (`itscam model quantize`)."
            )
        if path.suffix.lower() not in SUFFIXES:
            raise ModelLoadError(
                f"Model file {path} is neither ONNX (.onnx) nor an OpenVINO IR (.xml), the two the openvino backend "
                "reads. Point ITS_INFERENCE_MODEL_PATH at one of them."
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
        #: the INFERENCE_PRECISION_HINT: everything of an fp32 model, what an INT8 model left in floating point
        self.hint_precision = precision
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": _HINT[precision], "PERFORMANCE_HINT": "THROUGHPUT"}
        if streams > 0:
            config["NUM_STREAMS"] = streams
        try:
            model = core.read_model(str(path))  # an IR's weights come from the .bin beside the .xml
            with _lock:
                key = (str(path.resolve()), precision, streams)
                if key not in _compiled:
                    _compiled[key] = core.compile_model(model, "CPU", config)
                self.compiled = _compiled[key]
        except Exception as e:  # OpenVINO raises RuntimeError with its own text
            raise ModelLoadError(
                f"OpenVINO could not load {path}: {e}. Is it a YOLO11 ONNX export, or an IR with its .bin beside it? "
                "Re-export it with `itscam model export --weights yolo11n.pt --format onnx` (then `itscam model "
                "quantize` for the INT8 IR)."
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
        #: what the events report: int8 when the model carries quantized layers, else the hint's precision
        self.precision = "int8" if is_quantized(model) else precision
        meta = read_metadata(path, onnx_metadata(model), "openvino" if path.suffix.lower() == ".xml" else "onnx")
        if not meta.class_names:  # a plain ONNX file without Ultralytics metadata: name classes by id
            rows = model.output(0).get_partial_shape()[1]
            nc = rows.get_length() - 4 if rows.is_static else 0
            meta = replace(meta, class_names=[f"class{i}" for i in range(nc)])
        if self.fixed_hw:
            meta = replace(meta, imgsz=max(self.fixed_hw), max_batch=self.max_batch)
        self.meta = replace(meta, precision=self.precision)  # what ran, reported in every DetectionsProduced

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        out = self.request.infer({0: batch})[self.compiled.output(0)]
        return np.asarray(out, dtype=np.float32)


def is_quantized(model: Any) -> bool:
    """Whether the model has INT8 layers: NNCF marks each with a FakeQuantize on its inputs, which the CPU plugin
    folds into an INT8 kernel."""
    return any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def onnx_metadata(model: Any) -> dict[str, str]:
    """The ONNX file's metadata_props (Ultralytics writes the class names, stride and imgsz there), which OpenVINO's
    ONNX reader keeps in the model's rt_info under "framework" (and an IR saved from that model keeps too)."""
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    return {str(k): v.astype(str) for k, v in info["framework"].items()}
