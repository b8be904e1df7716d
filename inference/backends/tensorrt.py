"""TensorRT backend: a serialized engine (built by `inference.engine.build_engine`) run through the TensorRT 10
name-based API, with device memory, pinned host buffers and the stream from cuda-python.

Import-guarded: `tensorrt` and `cuda-python` are imported when a backend is made, so this module (and its pure
checks: `check_engine_io`, `check_batch`, `output_shape`, `parse_cuda_device`, `read_engine_metadata`) loads and is
tested on machines without a GPU. An engine takes one input size and batches up to its profile's maximum.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.backends.base import HostDecode
from inference.errors import InferenceError, ModelLoadError
from inference.model import ModelMetadata, anchors_for, metadata_path, read_metadata

__all__ = [
    "TensorRTBackend",
    "TensorSpec",
    "check_batch",
    "check_engine_io",
    "import_tensorrt",
    "output_shape",
    "parse_cuda_device",
    "read_engine_metadata",
]

FloatArray = npt.NDArray[np.float32]

_EXPORT = "`itscam model export --format engine`"
_IO_DTYPES = ("float32", "float16")


def import_tensorrt() -> Any:
    """The `tensorrt` module, or ModelLoadError saying how to get it."""
    try:
        import tensorrt
    except ImportError as e:
        raise ModelLoadError(
            f"TensorRT is not installed ({e}); building and running engines needs it and a CUDA GPU. Install it "
            "with `pip install tensorrt` (or the project's `gpu` extra: `pip install '.[gpu]'`) on a machine with "
            "an NVIDIA GPU and driver, or set ITS_INFERENCE_BACKEND=onnxruntime."
        ) from e
    return tensorrt


class _Cuda:
    """The few CUDA runtime calls TensorRT needs from us (cuda-python), each checked: a failed call raises
    `error` naming the call and CUDA's own message. Shared by the backend and the INT8 calibrator."""

    def __init__(self, error: type[InferenceError] = InferenceError) -> None:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError:
            try:  # cuda-python before 12.6 only had the old module path
                from cuda import cudart
            except ImportError as e:
                raise ModelLoadError(
                    f"TensorRT needs cuda-python for device memory ({e}). Install it with `pip install cuda-python` "
                    "(or `pip install '.[gpu]'`), or set ITS_INFERENCE_BACKEND=onnxruntime."
                ) from e
        self.rt: Any = cudart
        self.error = error

    def call(self, what: str, result: Any) -> Any:
        err, *rest = result
        if int(err) != 0:
            _, name = self.rt.cudaGetErrorName(err)
            _, text = self.rt.cudaGetErrorString(err)
            raise self.error(
                f"CUDA call {what} failed: {name.decode()} ({text.decode()}). Check the GPU with `nvidia-smi` "
                "(driver loaded, memory free, no Xid errors)."
            )
        return rest[0] if len(rest) == 1 else None

    def device_count(self) -> int:
        err, count = self.rt.cudaGetDeviceCount()
        return int(count) if int(err) == 0 else 0  # no driver or no device both mean "no GPU here"

    def set_device(self, index: int) -> None:
        self.call("cudaSetDevice", self.rt.cudaSetDevice(index))

    def malloc(self, nbytes: int) -> int:
        return int(self.call("cudaMalloc", self.rt.cudaMalloc(nbytes)))

    def free(self, ptr: int) -> None:
        self.call("cudaFree", self.rt.cudaFree(ptr))

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[int, npt.NDArray[Any]]:
        """Page-locked host memory (copies from it can be asynchronous) viewed as a numpy array."""
        nbytes = int(np.prod(shape)) * dtype.itemsize
        ptr = int(self.call("cudaMallocHost", self.rt.cudaMallocHost(nbytes)))
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        return ptr, np.frombuffer(memoryview(raw), dtype=dtype).reshape(shape)

    def free_host(self, ptr: int) -> None:
        self.call("cudaFreeHost", self.rt.cudaFreeHost(ptr))

    def stream(self) -> Any:
        return self.call("cudaStreamCreate", self.rt.cudaStreamCreate())

    def destroy_stream(self, stream: Any) -> None:
        self.call("cudaStreamDestroy", self.rt.cudaStreamDestroy(stream))

    def synchronize(self, stream: Any) -> None:
        self.call("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(stream))

    def copy_async(self, dst: int, src: int, nbytes: int, to_device: bool, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind
        direction = kind.cudaMemcpyHostToDevice if to_device else kind.cudaMemcpyDeviceToHost
        self.call("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(dst, src, nbytes, direction, stream))

    def upload(self, dst: int, array: npt.NDArray[Any]) -> None:
        """Synchronous host-to-device copy of a contiguous array (the calibrator hands TensorRT one batch)."""
        host = np.ascontiguousarray(array)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call("cudaMemcpy", self.rt.cudaMemcpy(dst, host.ctypes.data, host.nbytes, kind))


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor as an engine declares it; -1 marks a dimension set at run time."""

    name: str
    is_input: bool
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: float32 | float16 (anything else is rejected)


def output_shape(nc: int, n: int, height: int, width: int) -> tuple[int, int, int]:
    """YOLO11's raw output shape for `n` images of height x width: [n, 4 + nc, anchors]."""
    return (n, 4 + nc, anchors_for(height, width))


def check_engine_io(
    model_path: str | Path, tensors: Sequence[TensorSpec], nc: int | None
) -> tuple[TensorSpec, TensorSpec]:
    """The (input, output) of a YOLO11 detection engine: input [-1 or n, 3, H, W] with a fixed H, W, output
    [-1 or n, 4 + nc, anchors_for(H, W)], both float32 or float16. ModelLoadError naming the file otherwise."""
    fix = f"Build it with {_EXPORT} from a YOLO11 detection ONNX exported without NMS."
    inputs = [t for t in tensors if t.is_input]
    outputs = [t for t in tensors if not t.is_input]
    if len(inputs) != 1 or len(outputs) != 1:
        found = ", ".join(f"{'input' if t.is_input else 'output'} {t.name} {list(t.shape)}" for t in tensors)
        raise ModelLoadError(
            f"Engine {model_path} has {len(inputs)} inputs and {len(outputs)} outputs ({found}); a YOLO11 detector "
            f"has one input (images) and one output. {fix}"
        )
    inp, out = inputs[0], outputs[0]
    for t in (inp, out):
        if t.dtype not in _IO_DTYPES:
            raise ModelLoadError(
                f"Engine {model_path} has {t.dtype} tensor {t.name}; this backend feeds and reads float32 or "
                f"float16. {fix}"
            )
    s = inp.shape
    if len(s) != 4 or s[1] != 3 or s[0] == 0 or s[0] < -1 or min(s[2:]) <= 0:
        raise ModelLoadError(
            f"Engine {model_path} takes input {inp.name} {list(s)}; this backend needs [batch, 3, height, width] "
            f"with a fixed height and width (batch may be dynamic, -1). {fix}"
        )
    h, w = s[2], s[3]
    o = out.shape
    want_anchors = anchors_for(h, w)
    rows_ok = len(o) == 3 and (o[1] == 4 + nc if nc else o[1] >= 5)
    if not rows_ok or o[2] != want_anchors or o[0] not in (-1, s[0]):
        rows = f"4 + {nc} = {4 + nc}" if nc else "4 + classes"
        raise ModelLoadError(
            f"Engine {model_path} returns {out.name} {list(o)}; a YOLO11 detector with input {h}x{w} returns "
            f"[{s[0]}, {rows}, {want_anchors}]. {fix}"
        )
    return inp, out


def check_batch(shape: Sequence[int], hw: tuple[int, int], max_batch: int, model_path: str) -> int:
    """The batch size of an input of `shape`, or InferenceError when the engine cannot take it."""
    if len(shape) != 4 or shape[1] != 3 or (shape[2], shape[3]) != hw:
        raise InferenceError(
            f"Engine {model_path} takes [n, 3, {hw[0]}, {hw[1]}] float32 batches (n <= {max_batch}); got "
            f"{list(shape)}. Letterbox frames to the engine's shape (`letterbox(img, shape={hw})`), or rebuild the "
            "engine for this input size."
        )
    n = int(shape[0])
    if not 1 <= n <= max_batch:
        raise InferenceError(
            f"Engine {model_path} takes batches of 1 to {max_batch} images; got {n}. Split the batch (the Detector "
            "splits at backend.max_batch), or rebuild the engine with a larger max_batch."
        )
    return n


def parse_cuda_device(device: str) -> int:
    """'cuda' -> 0, 'cuda:1' -> 1; anything else is a ModelLoadError (TensorRT runs on CUDA GPUs only)."""
    kind, _, index = device.partition(":")
    if kind == "cuda" and (not index or index.isdigit()):
        return int(index or 0)
    raise ModelLoadError(
        f"The tensorrt backend runs on a CUDA GPU, but ITS_INFERENCE_DEVICE is {device!r}. Set it to cuda:0 (or "
        "cuda:N), or use ITS_INFERENCE_BACKEND=onnxruntime on CPU."
    )


def read_engine_metadata(path: Path) -> ModelMetadata:
    """The sidecar metadata `build_engine` writes next to an engine: an engine file says nothing of its classes,
    so one without it is refused."""
    if not path.is_file():
        raise ModelLoadError(
            f"Engine file {path} does not exist. Set ITS_INFERENCE_MODEL_PATH to a TensorRT engine; build one on "
            f"this machine with {_EXPORT}."
        )
    if not metadata_path(path).is_file():
        raise ModelLoadError(
            f"Engine {path} has no metadata file {metadata_path(path).name} (class names, input size, precision). "
            f"Build it on this machine with {_EXPORT}, which writes both."
        )
    return read_metadata(path, fmt="engine")


def _tensor_specs(trt: Any, engine: Any) -> list[TensorSpec]:
    specs = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        trt_dtype = engine.get_tensor_dtype(name)
        try:
            dtype = np.dtype(trt.nptype(trt_dtype)).name
        except TypeError:  # bf16 and fp8 have no numpy type
            dtype = str(trt_dtype)
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        specs.append(TensorSpec(name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT, shape, dtype))
    return specs


class TensorRTBackend(HostDecode):
    """Runs a TensorRT engine; buffers for the engine's largest batch are allocated once, at start-up."""

    name = "tensorrt"

    def __init__(self, model_path: str, device: str = "cuda:0") -> None:
        self._index = parse_cuda_device(device)
        trt = import_tensorrt()
        cuda = _Cuda(error=ModelLoadError)
        path = Path(model_path)
        meta = read_engine_metadata(path)
        if cuda.device_count() <= self._index:
            raise ModelLoadError(
                f"The tensorrt backend was asked for {device}, but CUDA sees {cuda.device_count()} GPU(s). Check "
                "`nvidia-smi` and CUDA_VISIBLE_DEVICES, set ITS_INFERENCE_DEVICE, or use ITS_INFERENCE_BACKEND="
                "onnxruntime."
            )
        cuda.set_device(self._index)
        self._cuda = cuda
        self._stream: Any = None
        self._buffers: list[int] = []
        self._pinned: list[int] = []
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise ModelLoadError(
                f"TensorRT {trt.__version__} could not load engine {path} (see its log above). An engine only runs "
                f"on the TensorRT version and GPU model that built it: rebuild it on this machine with {_EXPORT}."
            )
        inp, out = check_engine_io(path, _tensor_specs(trt, self._engine), len(meta.class_names) or None)
        h, w = inp.shape[2], inp.shape[3]
        if inp.shape[0] == -1:
            _, _, hi = self._engine.get_tensor_profile_shape(inp.name, 0)
            self.max_batch = int(hi[0])
        else:
            self.max_batch = inp.shape[0]
        self.device = f"cuda:{self._index}"
        self.model_path = str(path)
        self.fixed_hw: tuple[int, int] | None = (h, w)
        self._hw = (h, w)
        nc = out.shape[1] - 4
        names = meta.class_names or [f"class{i}" for i in range(nc)]
        self.meta = replace(meta, class_names=names, imgsz=max(h, w), max_batch=self.max_batch)
        self._in_name = inp.name
        try:
            self._context = self._engine.create_execution_context()
            self._stream = cuda.stream()
            # One allocation for the largest batch: a smaller batch uses the front of each buffer.
            in_dtype, out_dtype = np.dtype(inp.dtype), np.dtype(out.dtype)
            in_shape, out_shape = (self.max_batch, 3, h, w), output_shape(nc, self.max_batch, h, w)
            self._in_ptr, self._host_in = cuda.pinned(in_shape, in_dtype)
            self._pinned.append(self._in_ptr)
            self._out_ptr, self._host_out = cuda.pinned(out_shape, out_dtype)
            self._pinned.append(self._out_ptr)
            self._dev_in = cuda.malloc(self._host_in.nbytes)
            self._buffers.append(self._dev_in)
            self._dev_out = cuda.malloc(self._host_out.nbytes)
            self._buffers.append(self._dev_out)
            self._context.set_tensor_address(inp.name, self._dev_in)
            self._context.set_tensor_address(out.name, self._dev_out)
        except Exception:
            self.close()
            raise
        cuda.error = InferenceError  # from here on a CUDA failure is a failed batch, not a bad model

    def run(self, batch: FloatArray) -> FloatArray:
        if self._context is None:
            raise InferenceError(f"TensorRT backend for {self.model_path} is closed; make a new one.")
        n = check_batch(batch.shape, self._hw, self.max_batch, self.model_path)
        cuda, stream = self._cuda, self._stream
        # The CUDA device is per host thread, and a pool may call run() from a thread that never selected it.
        cuda.set_device(self._index)
        self._host_in[:n] = batch  # casts to the engine's input dtype (float16 for an FP16-IO engine)
        in_bytes = n * self._host_in[0].nbytes
        cuda.copy_async(self._dev_in, self._in_ptr, in_bytes, True, stream)
        if not self._context.set_input_shape(self._in_name, (n, 3, *self._hw)):
            raise InferenceError(f"TensorRT refused input shape {(n, 3, *self._hw)} for engine {self.model_path}.")
        if not self._context.execute_async_v3(int(stream)):
            raise InferenceError(
                f"TensorRT failed to run engine {self.model_path} on a batch of {n} (see its log above); check the "
                "GPU with `nvidia-smi`."
            )
        cuda.copy_async(self._out_ptr, self._dev_out, n * self._host_out[0].nbytes, False, stream)
        cuda.synchronize(stream)
        # A copy, in float32: the pinned buffer is overwritten by the next call.
        return self._host_out[:n].astype(np.float32)

    def close(self) -> None:
        """Free the GPU buffers, pinned memory, stream and engine; the backend cannot run afterwards."""
        self._context = None  # the context holds the engine's activations: release it before the engine
        self._engine = None
        self._host_in = self._host_out = np.empty(0, np.float32)  # drop the views before their memory goes
        for ptr in self._buffers:
            self._cuda.free(ptr)
        for ptr in self._pinned:
            self._cuda.free_host(ptr)
        self._buffers, self._pinned = [], []
        if self._stream is not None:
            self._cuda.destroy_stream(self._stream)
            self._stream = None
