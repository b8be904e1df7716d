"""What a model file is: its metadata (name, version, sha256, input size, class names, precision) and the shape
checks every backend runs at start-up, so a wrong file fails before the first frame, naming the file and the fix.

`itscam model export` writes the metadata as JSON next to the model (`yolo11n.onnx` -> `yolo11n.onnx.meta.json`).
An ONNX file or `.pt` checkpoint without that file (the reference `../shared/models/yolo11n.onnx`, or any
Ultralytics ONNX export) gets its metadata from the file itself: Ultralytics writes names, imgsz, batch and stride
into ONNX metadata, and a checkpoint carries its class names. A TensorRT engine without it is refused.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.errors import ModelLoadError

__all__ = [
    "META_SUFFIX",
    "STRIDES",
    "ModelMetadata",
    "anchors_for",
    "check_output_shape",
    "file_sha256",
    "metadata_path",
    "names_from_ultralytics",
    "read_metadata",
    "resolve_classes",
]

META_SUFFIX = ".meta.json"
#: YOLO11 detection head strides: anchors = sum over strides of (h / s) * (w / s)
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class ModelMetadata:
    """Identity of a model file. `version` is the operator's label (default: the weights' sha256 prefix)."""

    name: str
    version: str
    sha256: str
    imgsz: int
    class_names: list[str]
    format: str = "onnx"  # onnx | engine | pt
    precision: str = "fp32"  # fp32 | fp16 | bf16 | int8
    max_batch: int = 0  # largest batch the file accepts; 0 = any (dynamic)
    source: str = ""  # weights it was exported from, "name@sha256"
    exported_at: str = ""
    toolchain: dict[str, str] = field(default_factory=dict)  # e.g. {"ultralytics": "8.4.190", "tensorrt": "10.9"}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, model_path: Path) -> Path:
        out = metadata_path(model_path)
        out.write_text(self.to_json(), encoding="utf-8")
        return out


def metadata_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + META_SUFFIX)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def names_from_ultralytics(raw: str | Mapping[Any, Any] | Sequence[str]) -> list[str]:
    """Ultralytics stores names as a dict literal string ("{0: 'person', ...}"), a dict, or a list."""
    names: Any = ast.literal_eval(raw) if isinstance(raw, str) else raw
    if isinstance(names, Mapping):
        return [str(names[i]) for i in sorted(int(k) for k in names)]
    return [str(n) for n in names]


def read_metadata(model_path: Path, embedded: Mapping[str, str] | None = None, fmt: str = "onnx") -> ModelMetadata:
    """The metadata of `model_path`: its sidecar file when there is one (checked against the file's sha256),
    else what the file embeds (Ultralytics' metadata map), else defaults with no class names (the backend fills
    them in: the checkpoint's names, or generic ones by id)."""
    sha = file_sha256(model_path)
    side = metadata_path(model_path)
    if side.is_file():
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
            meta = ModelMetadata(**data)
        except (ValueError, TypeError) as e:
            raise ModelLoadError(
                f"Model metadata {side} is not valid ({e}). Re-export the model with `itscam model export`, "
                "or delete the file to fall back to the metadata inside the model."
            ) from e
        if meta.sha256 != sha:
            raise ModelLoadError(
                f"Model metadata {side} describes a file with sha256 {meta.sha256[:12]}…, but {model_path} has "
                f"sha256 {sha[:12]}…: the model was replaced without its metadata. Re-export it with "
                "`itscam model export`, or delete the stale metadata file."
            )
        return meta
    embedded = embedded or {}
    names = names_from_ultralytics(embedded["names"]) if "names" in embedded else []
    imgsz_raw = ast.literal_eval(embedded["imgsz"]) if "imgsz" in embedded else 640
    imgsz = int(max(imgsz_raw) if isinstance(imgsz_raw, list | tuple) else imgsz_raw)
    args = ast.literal_eval(embedded["args"]) if "args" in embedded else {}
    half = bool(args.get("half")) if isinstance(args, dict) else False
    int8 = bool(args.get("int8")) if isinstance(args, dict) else False
    dynamic = bool(args.get("dynamic", True)) if isinstance(args, dict) else True
    return ModelMetadata(
        name=model_path.stem,
        version=sha[:12],
        sha256=sha,
        imgsz=imgsz,
        class_names=names,
        format=fmt,
        precision="int8" if int8 else "fp16" if half else "fp32",
        max_batch=0 if dynamic else int(embedded.get("batch", 1)),
        toolchain={"ultralytics": embedded["version"]} if "version" in embedded else {},
    )


def anchors_for(height: int, width: int, strides: Sequence[int] = STRIDES) -> int:
    """Number of anchor points YOLO11 predicts for an input of height x width (8400 at 640x640)."""
    return sum((height // s) * (width // s) for s in strides)


def check_output_shape(
    model_path: str | Path, shape: Sequence[int], batch: int, height: int, width: int, nc: int | None
) -> int:
    """Raise ModelLoadError unless `shape` is a YOLO11 detection output [batch, 4 + nc, anchors] for this
    input; returns the number of classes."""
    expected_anchors = anchors_for(height, width)
    fix = (
        "Point ITS_INFERENCE_MODEL_PATH at a YOLO11 detection model exported without NMS "
        "(`itscam model export --weights yolo11n.pt --format onnx`)."
    )
    if len(shape) != 3:
        raise ModelLoadError(
            f"Model {model_path} returns a {len(shape)}-D output {tuple(shape)}; a YOLO11 detector returns "
            f"[batch, 4 + classes, anchors]. {fix}"
        )
    n, rows, anchors = (int(x) for x in shape)
    problems = []
    if n != batch:
        problems.append(f"batch {n} for an input batch of {batch}")
    if rows < 5 or (nc is not None and nc and rows != 4 + nc):
        want = f"4 + {nc} classes = {4 + nc}" if nc else "at least 5"
        problems.append(f"{rows} rows where {want} were expected")
    if anchors != expected_anchors:
        problems.append(f"{anchors} anchors where a {height}x{width} input gives {expected_anchors}")
    if problems:
        raise ModelLoadError(
            f"Model {model_path} has the wrong output shape {tuple(shape)}: {'; '.join(problems)}. {fix}"
        )
    return rows - 4


def resolve_classes(spec: str, names: Sequence[str]) -> tuple[int, ...] | None:
    """Class ids for a comma-separated list of class names or ids ("car,bus,7"); "all" or "" keeps every class."""
    spec = spec.strip()
    if spec.lower() in ("", "all", "*"):
        return None
    index = {n: i for i, n in enumerate(names)}
    ids: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if part.isdigit() and int(part) < len(names):
            ids.append(int(part))
        elif part in index:
            ids.append(index[part])
        else:
            raise ModelLoadError(
                f"Class {part!r} in ITS_INFERENCE_CLASSES is not a class of this model; it knows "
                f"{', '.join(names[:12])}{', …' if len(names) > 12 else ''} ({len(names)} classes). "
                "Use names or ids from that list, or 'all'."
            )
    return tuple(sorted(set(ids)))
