"""Model backends behind one interface: ONNX Runtime (CPU, the default), OpenVINO (CPU, bf16 where the CPU has it),
PyTorch via Ultralytics (CUDA, FP16) and TensorRT engines. The others import their libraries only when chosen."""

from __future__ import annotations

from inference.backends.base import Backend, HostDecode, PostParams, check_model
from inference.backends.onnxruntime import OnnxRuntimeBackend

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
    naming the file and the fix otherwise)."""
    backend: Backend
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
