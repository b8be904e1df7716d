"""Model backends behind one interface: ONNX Runtime (CPU, default); TensorRT and Torch come later."""

from inference.backends.base import Backend
from inference.backends.onnxruntime import OnnxRuntimeBackend

__all__ = ["Backend", "OnnxRuntimeBackend", "load_backend"]


def load_backend(name: str, model_path: str, threads: int, spin: bool = False) -> Backend:
    """Open `model_path` with the backend called `name`."""
    if name == "onnxruntime":
        return OnnxRuntimeBackend(model_path, threads=threads, spin=spin)
    raise ValueError(
        f"Unknown inference backend {name!r}; this build supports 'onnxruntime'. Set ITS_INFERENCE_BACKEND."
    )
