"""INT8 post-training quantisation of the YOLO11 ONNX model for the OpenVINO backend (`itscam model quantize`).

NNCF calibrates the activation ranges on frames of our own cameras' clips, letterboxed exactly as the worker
letterboxes them, so the scales fit what the model will see. What stays in floating point, and why:
- the head's box decoding, as Ultralytics' own OpenVINO INT8 export keeps it: anchors, distances and strides run up
  to 640 px (an 8-bit step over that range is 2.5 px, which alone fails the gate's IoU 0.9), the DFL softmax
  expectation needs its 16 bins, the class sigmoid decides the 0.25 threshold;
- every Add and Multiply: the ONNX export spells SiLU as x * sigmoid(x) and the C3k2 blocks add residuals, and a
  quantizer on each costs one more rounding of every activation, while the CPU plugin fuses them into the
  convolution before them anyway. On the gate frames this took coverage from 90.8 % to 93.6 % (32 frames, fp32);
  the speed difference was inside the noise of a shared 2-core machine.
So the convolutions (and the concats feeding them) run in INT8; the backend's INFERENCE_PRECISION_HINT (bf16 where
the CPU has it, else fp32) applies to the rest.

Accuracy: INT8 does NOT pass the accuracy gate (inference/gate.py: >= 98 % of fp32 ONNX Runtime's detections
matched at IoU >= 0.9). On the 24 gate frames of the shared clips (251 detections) it covers 93.6 % (32 calibration
frames) and 94.8 % (300) with its float layers in fp32, 90.8 % and 94.0 % in bf16; preset performance, a min-max
range estimator, 8-bit first-layer weights or the whole head in floating point did no better; nor (300 frames, fp32)
full bias correction (94.8 %), the neck in floating point (96.0 %), the first three modules (96.8 %), or NNCF's
accuracy-controlled quantisation (34 of 103 operations reverted in 15 minutes for 97.5 % on other frames). The
detections are found (97-98 % at IoU 0.5) but their edges move by a pixel or two, and the cars in these clips are
small (median short side 27 px). `ITS_INFERENCE_BACKEND=auto` therefore does not pick it here.

The result is an OpenVINO IR (`<stem>.int8.xml` + `.bin`) with the repo's `.meta.json` beside the .xml (precision
int8; the source model's class names, imgsz and version; sha256 of the .xml, which is what read_metadata checks).
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import ModelLoadError
from inference.model import ModelMetadata, file_sha256, read_metadata
from inference.preprocess import letterbox, to_batch
from inference.settings import default_model_path

__all__ = [
    "INT8_SUFFIX",
    "PRESETS",
    "QuantizeRequest",
    "calibration_frames",
    "default_data_dir",
    "head_ignored_patterns",
    "quantize",
]

PRESETS = ("mixed", "performance")
INT8_SUFFIX = ".int8.xml"


def default_data_dir() -> Path:
    """The shared clips: `data/` beside the default model's `models/` (../shared, or $ITS_SHARED_DIR)."""
    return Path(default_model_path()).parents[1] / "data"


@dataclass(frozen=True)
class QuantizeRequest:
    model: Path  # fp32 ONNX (an Ultralytics YOLO11 detection export)
    out_dir: Path
    data_dir: Path  # clips (*.mp4) to calibrate on
    frames: int = 300  # calibration frames, spread evenly over the clips
    preset: str = "mixed"  # mixed: symmetric weights, asymmetric activations (better for SiLU's negative tail)
    version: str | None = None  # default: the source model's version


def _clips(data_dir: Path) -> list[Path]:
    clips = sorted(data_dir.glob("*.mp4")) if data_dir.is_dir() else []
    if not clips:
        raise ModelLoadError(
            f"No clips (*.mp4) in {data_dir} to calibrate on. Pass --data DIR with recordings from your cameras, "
            "or set ITS_SHARED_DIR to the folder holding data/ (the shared clips)."
        )
    return clips


def _evenly(total: int, n: int) -> list[int]:
    """`n` frame indices spread evenly over `total` frames (the middle of n equal segments), all when n >= total."""
    if n >= total:
        return list(range(total))
    return sorted({int((k + 0.5) * total / n) for k in range(n)})


def _clip_frames(clip: Path, n: int) -> Iterator[npt.NDArray[np.uint8]]:
    cap = cv2.VideoCapture(str(clip))
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0:
            raise ModelLoadError(f"OpenCV cannot read {clip} (no frames); re-encode it as H.264 MP4 or remove it.")
        wanted = set(_evenly(total, n))
        i = 0
        while wanted:  # decode in order: seeking in H.264 lands on keyframes, not on the frame asked for
            ok, img = cap.read()
            if not ok:
                break
            if i in wanted:
                wanted.discard(i)
                yield img  # type: ignore[misc]
            i += 1
    finally:
        cap.release()


def calibration_frames(data_dir: Path, n: int, imgsz: int = 640) -> list[npt.NDArray[np.float32]]:
    """`n` model inputs (1x3xHxW, RGB in [0, 1]) from the clips of `data_dir`, an equal share from each clip and
    spread evenly over it, letterboxed as the worker letterboxes a frame of a dynamic-shape model."""
    if n < 1:
        raise ModelLoadError(f"--frames {n}: calibration needs at least 1 frame (300 is NNCF's default).")
    clips = _clips(data_dir)
    out: list[npt.NDArray[np.float32]] = []
    for k, clip in enumerate(clips):
        share = n // len(clips) + (1 if k < n % len(clips) else 0)
        out += [to_batch([letterbox(img, imgsz)]) for img in _clip_frames(clip, share)]
    return out


def head_ignored_patterns(model: Any) -> list[str]:
    """Node-name patterns of the detection head's decoding subgraph: every node of the head (the last module of an
    Ultralytics model, `/model.23/` in YOLO11) outside its cv2 (box) and cv3 (class) conv branches, i.e. the DFL,
    anchors, distance-to-box arithmetic, the final concats and the class sigmoid."""
    modules = {int(m.group(1)) for op in model.get_ops() if (m := re.match(r"/model\.(\d+)/", op.get_friendly_name()))}
    if not modules:
        raise ModelLoadError(
            "The model has no nodes named /model.N/...: it is not an Ultralytics YOLO export, whose detection head "
            "must stay in floating point. Quantize a YOLO11 ONNX export (`itscam model export --format onnx`)."
        )
    return [re.escape(f"/model.{max(modules)}/") + r"(?!cv[23]\.)"]


#: elementwise ops kept in floating point (SiLU's x * sigmoid(x), residual adds): see the module docstring
IGNORED_TYPES = ["Add", "Multiply"]


def _nncf() -> Any:
    try:
        import nncf
    except ImportError as e:
        raise ModelLoadError(
            f"INT8 quantisation needs NNCF ({e}); it is a dependency of this project: run `make install`."
        ) from e
    return nncf


def _check(req: QuantizeRequest) -> None:
    if not req.model.is_file():
        raise ModelLoadError(
            f"Model file {req.model} does not exist. Pass --model with a YOLO11 ONNX file (default: "
            "ITS_INFERENCE_MODEL_PATH, ../shared/models/yolo11n.onnx)."
        )
    if req.model.suffix.lower() != ".onnx":
        raise ModelLoadError(f"Model {req.model} is not an .onnx file; quantisation starts from the fp32 ONNX export.")
    if req.frames < 1:
        raise ModelLoadError(f"--frames {req.frames}: calibration needs at least 1 frame (300 is NNCF's default).")
    if req.preset not in PRESETS:
        raise ModelLoadError(f"Unknown preset {req.preset!r}; choose one of {', '.join(PRESETS)}.")
    req.out_dir.mkdir(parents=True, exist_ok=True)
    probe = req.out_dir / f".itscam-write-test-{datetime.now(UTC).timestamp()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ModelLoadError(f"Cannot write the quantized model into {req.out_dir} ({e}); pass --out-dir DIR.") from e


def quantize(req: QuantizeRequest) -> tuple[Path, ModelMetadata]:
    """Quantize `req.model` to INT8; returns the IR's .xml and its metadata (also written as `<xml>.meta.json`)."""
    _check(req)
    nncf = _nncf()
    import openvino as ov

    nncf.set_log_level(logging.WARNING)  # one INFO line per node it leaves alone, hundreds of them

    from inference.backends.openvino import onnx_metadata

    core = ov.Core()
    model = core.read_model(str(req.model))
    source = read_metadata(req.model, onnx_metadata(model), "onnx")
    frames = calibration_frames(req.data_dir, req.frames, source.imgsz)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(frames),
        preset=nncf.QuantizationPreset(req.preset),
        subset_size=len(frames),
        ignored_scope=nncf.IgnoredScope(patterns=head_ignored_patterns(model), types=IGNORED_TYPES),
    )
    out = req.out_dir / f"{req.model.stem}{INT8_SUFFIX}"
    # fp16 weight compression would round what stayed in floating point (the head's decoding) a second time
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    meta = replace(
        source,
        version=req.version or source.version,
        sha256=file_sha256(out),
        format="openvino",
        precision="int8",
        max_batch=0,
        source=f"{req.model.name}@{source.sha256}",
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        toolchain=source.toolchain | _versions("openvino", "nncf"),
    )
    meta.write(out)
    return out, meta


def _versions(*dists: str) -> dict[str, str]:
    return {d: importlib.metadata.version(d) for d in dists}
