"""The model toolchain: an Ultralytics `.pt` checkpoint -> ONNX (dynamic batch and size) or a TensorRT engine,
with the metadata file next to it that every DetectionsProduced reports (name, version, sha256, imgsz, classes).

ONNX comes from Ultralytics' own exporter; the engine is built by `inference.engine` from that ONNX, so its
input size, batch profile, precision and INT8 calibration (through our own letterbox) are ours to choose.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from inference.errors import ModelLoadError
from inference.model import ModelMetadata, file_sha256, names_from_ultralytics

__all__ = ["ExportRequest", "export_model"]

FORMATS = ("onnx", "engine")


@dataclass(frozen=True)
class ExportRequest:
    weights: Path
    format: str = "onnx"
    imgsz: int = 640
    half: bool = False
    int8: bool = False
    batch: int = 1  # onnx: tracing batch (the file takes any); engine: the largest batch of its profile
    out_dir: Path | None = None  # default: next to the weights
    version: str | None = None  # default: the weights' sha256 prefix
    calibration: str | None = None  # engine --int8: folder of JPEG frames to calibrate on
    square: bool = False  # engine: imgsz x imgsz input instead of the 16:9 letterbox shape


def _versions(*dists: str) -> dict[str, str]:
    out = {}
    for d in dists:
        try:
            out[d] = importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _check(req: ExportRequest) -> Path:
    if req.format not in FORMATS:
        raise ModelLoadError(f"Unknown export format {req.format!r}; choose one of {', '.join(FORMATS)}.")
    if not req.weights.is_file():
        raise ModelLoadError(
            f"Weights file {req.weights} does not exist. Pass an Ultralytics YOLO11 checkpoint, e.g. "
            "--weights ../shared/models/yolo11n.pt."
        )
    if req.weights.suffix != ".pt":
        raise ModelLoadError(f"Weights {req.weights} are not a .pt checkpoint; export starts from Ultralytics .pt.")
    if req.imgsz % 32 or req.imgsz <= 0:
        raise ModelLoadError(f"--imgsz {req.imgsz} is not a positive multiple of 32 (the model's largest stride).")
    if req.batch < 1:
        raise ModelLoadError(f"--batch {req.batch} must be at least 1.")
    if req.int8 and req.format != "engine":
        raise ModelLoadError("--int8 applies to TensorRT engines: use --format engine (with --calibration DIR).")
    out_dir = req.out_dir or req.weights.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    probe = out_dir / f".itscam-write-test-{datetime.now(UTC).timestamp()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ModelLoadError(f"Cannot write the exported model into {out_dir} ({e}); pass --out-dir DIR.") from e
    return out_dir


def _export_onnx(weights: Path, out: Path, imgsz: int, batch: int) -> tuple[Path, list[str]]:
    """Ultralytics writes next to the checkpoint, so it works on a copy in a scratch folder of `out`'s."""
    try:
        from ultralytics import YOLO  # type: ignore[attr-defined]
    except ImportError as e:
        raise ModelLoadError(
            f"Exporting needs Ultralytics and torch ({e}): `pip install '.[export]'` (make install-export)."
        ) from e
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        work = Path(tmp) / weights.name
        shutil.copyfile(weights, work)
        model = YOLO(str(work), task="detect")
        names = names_from_ultralytics(model.names)
        with warnings.catch_warnings():
            # Ultralytics picks torch's TorchScript exporter and onnxslim's passes on purpose; torch and onnx warn
            # about their deprecation, which says nothing about this export.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            exported = model.export(
                format="onnx", imgsz=imgsz, dynamic=True, simplify=True, batch=batch, device="cpu", verbose=False
            )
        shutil.move(Path(exported), out)
    return out, names


def export_model(req: ExportRequest) -> tuple[Path, ModelMetadata]:
    """Export `req.weights`; returns the model file and its metadata (also written as `<file>.meta.json`)."""
    out_dir = _check(req)
    src_sha = file_sha256(req.weights)
    stem = req.weights.stem
    toolchain = _versions("ultralytics", "torch", "onnx", "onnxslim")
    if req.format == "onnx":
        path, names = _export_onnx(req.weights, out_dir / f"{stem}.onnx", req.imgsz, req.batch)
        precision, max_batch = "fp32", 0
    else:
        from inference.backends.tensorrt import import_tensorrt
        from inference.engine import EngineConfig, build_engine

        import_tensorrt()  # fail before the ONNX export when TensorRT is not there

        cfg = EngineConfig.for_imgsz(
            req.imgsz,
            aspect=None if req.square else (16, 9),
            max_batch=req.batch,
            fp16=req.half or req.int8,
            int8=req.int8,
            calibration=req.calibration,
        )
        suffix = f"{cfg.height}x{cfg.width}-b{req.batch}-{'int8' if req.int8 else 'fp16' if cfg.fp16 else 'fp32'}"
        onnx_path, names = _export_onnx(req.weights, out_dir / f"{stem}.onnx", req.imgsz, 1)
        path = build_engine(onnx_path, out_dir / f"{stem}-{suffix}.engine", cfg)
        precision, max_batch = ("int8" if req.int8 else "fp16" if cfg.fp16 else "fp32"), req.batch
        toolchain |= _versions("tensorrt")
    meta = ModelMetadata(
        name=stem,
        version=req.version or src_sha[:12],
        sha256=file_sha256(path),
        imgsz=req.imgsz,
        class_names=names,
        format=req.format,
        precision=precision,
        max_batch=max_batch,
        source=f"{req.weights.name}@{src_sha}",
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        toolchain=toolchain,
    )
    meta.write(path)
    return path, meta
