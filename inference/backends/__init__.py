"""Model backends behind one interface: ONNX Runtime (CPU, the default), OpenVINO (CPU, bf16 where the CPU has it,
and INT8 IRs), PyTorch via Ultralytics (CUDA, FP16) and TensorRT engines. The others import their libraries only
when chosen."""

from __future__ import annotations

from pathlib import Path

from inference.backends.base import Backend, HostDecode, PostParams, check_model
from inference.backends.onnxruntime import OnnxRuntimeBackend
from inference.errors import ModelLoadError

__all__ = ["BACKENDS", "Backend", "HostDecode", "OnnxRuntimeBackend", "PostParams", "check_model", "load_backend"]

BACKENDS = ("onnxruntime", "openvino", "torch", "tensorrt")


def load_backend(
    name: str,
    model_path: str,
    threads: int = 0,
    spin: bool = False,
    device: str = "cuda:0",
    half: bool = True,
    imgsz: int = 640,
    precision: str = "auto",
) -> Backend:
    """Open `model_path` with the backend called `name` and check it is a YOLO11 detector (ModelLoadError
    naming the file and the fix otherwise). An OpenVINO IR (`.xml`, e.g. `itscam model quantize`'s INT8 model) only
    OpenVINO reads: it goes to the openvino backend when the default onnxruntime was asked for."""
    backend: Backend
    if Path(model_path).suffix.lower() == ".xml":
        if name not in ("onnxruntime", "openvino"):
            raise ModelLoadError(
                f"Model {model_path} is an OpenVINO IR, which the {name} backend cannot read. Set "
                f"ITS_INFERENCE_BACKEND=openvino, or point ITS_INFERENCE_MODEL_PATH at a model for {name}."
            )
        name = "openvino"
    if name == "onnxruntime":
        backend = OnnxRuntimeBackend(model_path, threads=threads, spin=spin)
    elif name == "openvino":
        from inference.backends.openvino import OpenVinoBackend

        backend = OpenVinoBackend(model_path, precision=precision)
    elif name == "torch":
        from inference.backends.torch import TorchBackend

        backend = TorchBackend(model_path, device=device, half=half)
    elif name == "tensorrt":
        from inference.backends.tensorrt import TensorRTBackend

        backend = TensorRTBackend(model_path, device=device)
    else:
        raise ValueError(
            f"Unknown inference backend {name!r}; choose one of {', '.join(BACKENDS)} with ITS_INFERENCE_BACKEND."
        )
    check_model(backend, imgsz)
    return backend
