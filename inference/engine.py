"""Building TensorRT engines from the YOLO11 ONNX export: the build configuration (input size, dynamic batch
profile, FP16, INT8), the calibration batches INT8 needs, and the build itself.

An engine takes one input size (the letterbox shape its cameras get, `EngineConfig.for_imgsz`) and any batch in
its profile, and runs only on the TensorRT version and GPU model that built it. Only `build_engine` needs
TensorRT and a GPU; it imports them when called, so the rest is plain Python tested everywhere.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.backends.tensorrt import _Cuda, import_tensorrt
from inference.errors import BadFrameError, ModelLoadError
from inference.model import STRIDES, ModelMetadata, file_sha256, read_metadata
from inference.preprocess import decode_jpeg, letterbox, to_batch
from schemas.jpeg import jpeg_size

__all__ = [
    "EngineConfig",
    "EngineConfigError",
    "build_engine",
    "calibration_cache_path",
    "calibration_images",
    "iter_calibration_batches",
    "profile_shapes",
]

FloatArray = npt.NDArray[np.float32]
Shape = tuple[int, ...]

_STRIDE = max(STRIDES)
_IMAGE_SUFFIXES = (".jpg", ".jpeg")


class EngineConfigError(ModelLoadError):
    """An EngineConfig field is out of range; the message names the field, the value and the fix."""


@dataclass(frozen=True)
class EngineConfig:
    """What to build: a fixed input of height x width, batches min_batch..max_batch (kernels tuned for
    opt_batch), FP16 kernels, and INT8 calibrated on `calibration` (a folder of JPEG frames or a list of them)."""

    height: int
    width: int
    min_batch: int = 1
    opt_batch: int = 16
    max_batch: int = 32
    fp16: bool = True
    int8: bool = False
    workspace_gb: float = 4.0
    calibration: str | Sequence[str] | None = None
    #: most batches of opt_batch images the calibrator feeds TensorRT (16 x 16 = 256 frames by default)
    calibration_batches: int = 16

    def __post_init__(self) -> None:
        if self.calibration is not None and not isinstance(self.calibration, str | Path):
            object.__setattr__(self, "calibration", tuple(str(p) for p in self.calibration))  # stays hashable
        for name in ("height", "width"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0 or v % _STRIDE:
                up = max(_STRIDE, math.ceil(v / _STRIDE) * _STRIDE) if isinstance(v, int | float) else _STRIDE
                raise EngineConfigError(
                    f"EngineConfig.{name} is {v!r}; it must be a positive multiple of {_STRIDE} (YOLO11's largest "
                    f"stride). Use {up}, or EngineConfig.for_imgsz(imgsz, aspect) for a camera's letterbox shape."
                )
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise EngineConfigError(
                f"EngineConfig batch profile is min_batch={self.min_batch}, opt_batch={self.opt_batch}, "
                f"max_batch={self.max_batch}; it needs 1 <= min_batch <= opt_batch <= max_batch. Set max_batch to "
                "the largest batch the worker sends (ITS_INFERENCE_MAX_BATCH) and opt_batch to its usual batch."
            )
        if not self.workspace_gb > 0:
            raise EngineConfigError(
                f"EngineConfig.workspace_gb is {self.workspace_gb!r}; TensorRT needs a positive workspace. Use 4 "
                "(GiB), or less on a GPU with little memory."
            )
        if self.calibration_batches < 1:
            raise EngineConfigError(
                f"EngineConfig.calibration_batches is {self.calibration_batches}; it must be at least 1. Use 16 "
                "(the default: 16 batches of opt_batch frames)."
            )
        if self.int8 and not self.calibration:
            raise EngineConfigError(
                f"EngineConfig.int8 is True but calibration is {self.calibration!r}: INT8 needs a calibration set. "
                "Set calibration to a folder of JPEG frames from your cameras (a few hundred), or a list of them."
            )

    @classmethod
    def for_imgsz(cls, imgsz: int, aspect: tuple[int, int] | None = (16, 9), **kwargs: Any) -> EngineConfig:
        """The config for cameras of `aspect` (width, height) at `imgsz`: the shape `letterbox(rect=True)` gives
        their frames (the long side imgsz, the short side padded to a multiple of 32; 640 at 16:9 -> 384 x 640),
        or imgsz x imgsz when aspect is None. A max_batch in kwargs without opt_batch tunes for half of it."""
        if not isinstance(imgsz, int) or imgsz <= 0 or imgsz % _STRIDE:
            raise EngineConfigError(
                f"imgsz is {imgsz!r}; it must be a positive multiple of {_STRIDE}, e.g. 640 (ITS_INFERENCE_IMGSZ)."
            )
        if aspect is None:
            h = w = imgsz
        else:
            aw, ah = aspect
            if aw <= 0 or ah <= 0:
                raise EngineConfigError(f"aspect is {aspect!r}; give (width, height) > 0, e.g. (16, 9), or None.")
            short = math.ceil(round(imgsz * min(aw, ah) / max(aw, ah)) / _STRIDE) * _STRIDE
            h, w = (short, imgsz) if aw >= ah else (imgsz, short)
        if "max_batch" in kwargs and "opt_batch" not in kwargs:
            kwargs["opt_batch"] = max(kwargs.get("min_batch", 1), kwargs["max_batch"] // 2)
        return cls(height=h, width=w, **kwargs)

    @property
    def precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.fp16 else "fp32"


def profile_shapes(cfg: EngineConfig, input_name: str = "images") -> dict[str, tuple[Shape, Shape, Shape]]:
    """The optimization profile: min, opt and max NCHW shapes of the input, by tensor name."""
    hw = (cfg.height, cfg.width)
    return {input_name: ((cfg.min_batch, 3, *hw), (cfg.opt_batch, 3, *hw), (cfg.max_batch, 3, *hw))}


def calibration_images(source: str | Path | Sequence[str | Path]) -> list[Path]:
    """The calibration JPEGs: a folder's *.jpg / *.jpeg files (sorted), or the given list, each checked to exist."""
    if isinstance(source, str | Path):
        folder = Path(source)
        if not folder.is_dir():
            raise EngineConfigError(
                f"Calibration folder {folder} does not exist. Point EngineConfig.calibration at a folder of JPEG "
                "frames from your cameras (a few hundred), or give a list of image paths."
            )
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise EngineConfigError(
                f"Calibration folder {folder} holds no .jpg/.jpeg files. Save a few hundred frames from your "
                "cameras there."
            )
        return files
    files = [Path(p) for p in source]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise EngineConfigError(f"Calibration images do not exist: {', '.join(missing[:5])}. Fix the list of paths.")
    return files


def iter_calibration_batches(paths: Sequence[str | Path], cfg: EngineConfig) -> Iterator[FloatArray]:
    """Float32 NCHW batches of cfg.opt_batch images (at most cfg.calibration_batches of them), made exactly as
    the detector makes its input (reduced JPEG decode, letterbox to the engine's shape, RGB in [0, 1]), so the
    INT8 ranges are those inference sees. Batches are opt_batch because TensorRT calibrates at the profile's opt
    shape; images past the last full batch are left out."""
    files = [Path(p) for p in paths]
    if len(files) < cfg.opt_batch:
        raise EngineConfigError(
            f"Calibration set has {len(files)} images, fewer than one batch of opt_batch={cfg.opt_batch}. Add "
            "frames (a few hundred is usual), or lower opt_batch."
        )
    return _calibration_batches(files, cfg)


def _calibration_batches(files: list[Path], cfg: EngineConfig) -> Iterator[FloatArray]:
    shape = (cfg.height, cfg.width)
    count = min(len(files) // cfg.opt_batch, cfg.calibration_batches)
    for b in range(count):
        items = []
        for path in files[b * cfg.opt_batch : (b + 1) * cfg.opt_batch]:
            data = path.read_bytes()
            size = jpeg_size(data)
            try:
                img = decode_jpeg(data, reduce_to=max(shape))
            except BadFrameError as e:
                raise EngineConfigError(f"Calibration image {path} is not a JPEG ({e}). Remove it.") from e
            orig = (size[1], size[0]) if size else None
            items.append(letterbox(img, shape=shape, rect=False, orig_shape=orig))
        yield to_batch(items)


def calibration_cache_path(engine_path: Path, onnx_sha256: str, cfg: EngineConfig, images: Sequence[Path]) -> Path:
    """Where the INT8 calibration cache goes: next to the engine, named by what the scales depend on (model,
    input shape, calibration set), so a stale cache is never picked up for another model or set."""
    key = hashlib.sha256(f"{onnx_sha256}|{cfg.height}x{cfg.width}|{cfg.opt_batch}|{cfg.calibration_batches}".encode())
    for p in images:
        key.update(f"|{p.name}:{p.stat().st_size}".encode())
    return engine_path.with_name(f"{engine_path.name}.{key.hexdigest()[:12]}.calib")


def _onnx_metadata(onnx_path: Path) -> ModelMetadata:
    """The ONNX file's metadata (its sidecar, else the names Ultralytics embeds), read with ONNX Runtime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return read_metadata(onnx_path, session.get_modelmeta().custom_metadata_map, "onnx")


def _make_calibrator(trt: Any, batches: Iterator[FloatArray], cfg: EngineConfig, cache: Path) -> Any:
    base = getattr(trt, "IInt8EntropyCalibrator2", None)
    if base is None or not hasattr(trt.BuilderFlag, "INT8"):
        raise ModelLoadError(
            f"TensorRT {trt.__version__} has no INT8 calibration (it builds strongly typed networks only). Build "
            "INT8 from an explicitly quantized (Q/DQ) ONNX, e.g. made with NVIDIA ModelOpt, with int8=False, or "
            "install TensorRT 10 (`pip install 'tensorrt-cu12>=10,<11'`) for calibrated INT8."
        )
    cuda = _Cuda(error=ModelLoadError)
    nbytes = cfg.opt_batch * 3 * cfg.height * cfg.width * 4

    # Defined here because its base class exists only once tensorrt imports.
    class Calibrator(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.ptr = cuda.malloc(nbytes)
            self.error: BaseException | None = None

        def get_batch_size(self) -> int:
            return cfg.opt_batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            # An exception must not cross into TensorRT's C++: keep it and end calibration instead.
            try:
                batch = next(batches, None)
                if batch is None:
                    return None
                cuda.upload(self.ptr, batch)
                return [self.ptr]
            except Exception as e:
                self.error = e
                return None

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.write_bytes(bytes(data))

        def free(self) -> None:
            cuda.free(self.ptr)

    return Calibrator()


def _has_fp16_layers(trt: Any, network: Any) -> bool:
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if any(layer.get_output(j).dtype == trt.float16 for j in range(layer.num_outputs)):
            return True
    return False


def build_engine(onnx_path: Path, engine_path: Path, cfg: EngineConfig, meta: ModelMetadata | None = None) -> Path:
    """Build a TensorRT engine for `cfg` from a YOLO11 ONNX file, write it (and its metadata sidecar, from
    `meta` or the ONNX file's own) to `engine_path`, and return that path. Needs TensorRT and a CUDA GPU: the
    GPU the engine will run on, since an engine does not move between GPU models or TensorRT versions."""
    trt = import_tensorrt()
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise ModelLoadError(
            f"ONNX file {onnx_path} does not exist. Export one with `itscam model export --format onnx` first."
        )
    source = meta or _onnx_metadata(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    try:
        builder = trt.Builder(logger)
    except Exception as e:  # pybind11 raises a bare TypeError/RuntimeError when CUDA cannot start
        raise ModelLoadError(
            f"TensorRT could not start its builder ({e}): building an engine needs a CUDA GPU and driver. Run the "
            "build on the GPU machine that will run the engine (check `nvidia-smi`)."
        ) from e
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelLoadError(
            f"TensorRT {trt.__version__} could not parse {onnx_path}: {errors}. Re-export it with "
            "`itscam model export --format onnx` (opset 17 or later, no NMS)."
        )
    input_name = network.get_input(0).name
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_gb * (1 << 30)))
    if cfg.fp16:
        if hasattr(trt.BuilderFlag, "FP16"):
            config.set_flag(trt.BuilderFlag.FP16)
        elif not _has_fp16_layers(trt, network):  # TensorRT 11+: precision comes from the ONNX types alone
            raise ModelLoadError(
                f"TensorRT {trt.__version__} builds strongly typed networks only, so FP16 must come from the ONNX "
                f"file, and {onnx_path} is FP32. Build from an FP16 ONNX export, build with fp16=False, or install "
                "TensorRT 10 (`pip install 'tensorrt-cu12>=10,<11'`)."
            )
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile_shapes(cfg, input_name).items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    calibrator = None
    if cfg.int8:
        images = calibration_images(cfg.calibration or ())
        batches = iter_calibration_batches(images, cfg)
        cache = calibration_cache_path(engine_path, source.sha256, cfg, images)
        calibrator = _make_calibrator(trt, batches, cfg, cache)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)  # calibration runs at this profile's opt shape
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if calibrator is not None and calibrator.error is not None:
        raise ModelLoadError(f"INT8 calibration failed: {calibrator.error}") from calibrator.error
    if serialized is None:
        raise ModelLoadError(
            f"TensorRT {trt.__version__} could not build an engine from {onnx_path} for {cfg} (see its log above). "
            "A smaller max_batch or a larger workspace_gb often helps."
        )
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed, so a worker never loads a half-written engine.
    tmp = engine_path.with_name(engine_path.name + ".tmp")
    tmp.write_bytes(memoryview(serialized))
    tmp.replace(engine_path)
    replace(
        source,
        sha256=file_sha256(engine_path),
        imgsz=max(cfg.height, cfg.width),
        format="engine",
        precision=cfg.precision,
        max_batch=cfg.max_batch,
        source=source.source or f"{onnx_path.name}@{source.sha256}",
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        toolchain={**source.toolchain, "tensorrt": str(trt.__version__)},
    ).write(engine_path)
    return engine_path
