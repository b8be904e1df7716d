"""`itscam model export|quantize|info`: the model toolchain (Ultralytics .pt -> ONNX or TensorRT engine, ONNX -> INT8
OpenVINO IR, each with its metadata)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "cmd_model", "default_quantize_dir"]


def default_quantize_dir() -> Path:
    """Where `itscam model quantize` writes by default: <stack home>/models (git-ignored; the shared models folder
    is read-only)."""
    from deploy.stack.settings import StackSettings

    return StackSettings().home / "models"


def cmd_model(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    if args.action == "info":
        from inference.backends import load_backend

        backend = load_backend(
            args.backend,
            args.path,
            threads=1,
            device=args.device,
            half=args.backend == "torch" and args.device.startswith("cuda"),
        )
        print(json.dumps(asdict(backend.meta) | {"fixed_hw": backend.fixed_hw, "max_batch": backend.max_batch}))
        return 0
    if args.action == "quantize":
        return _quantize(args)
    from inference.export import ExportRequest, export_model
    from inference.model import metadata_path

    path, meta = export_model(
        ExportRequest(
            weights=Path(args.weights),
            format=args.format,
            imgsz=args.imgsz,
            half=args.half,
            int8=args.int8,
            batch=args.batch,
            out_dir=Path(args.out_dir) if args.out_dir else None,
            version=args.model_version,
            calibration=args.calibration,
            square=args.square,
        )
    )
    print(json.dumps({"model": str(path), "metadata": str(metadata_path(path))} | asdict(meta)))
    return 0


def _quantize(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from inference.model import metadata_path
    from inference.quantize import QuantizeRequest, default_data_dir, quantize
    from inference.settings import InferenceSettings

    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars: stdout is the one JSON line
        path, meta = quantize(
            QuantizeRequest(
                model=Path(args.model or InferenceSettings().model_path),
                out_dir=Path(args.out_dir) if args.out_dir else default_quantize_dir(),
                data_dir=Path(args.data) if args.data else default_data_dir(),
                frames=args.frames,
                preset=args.preset,
                version=args.model_version,
            )
        )
    print(json.dumps({"model": str(path), "metadata": str(metadata_path(path))} | asdict(meta)))
    return 0


def add_parser(sub: Any) -> None:
    mp = sub.add_parser(
        "model",
        help="Export YOLO11 checkpoints to ONNX / TensorRT engines, with their metadata; show a model's metadata.",
        description="export: Ultralytics .pt -> ONNX (dynamic batch and size, for onnxruntime) or a TensorRT "
        "engine (fixed input size, dynamic batch up to --batch, FP16, or INT8 calibrated on --calibration "
        "images; needs a CUDA GPU and `pip install '.[gpu]'`). Writes <file>.meta.json next to the model (name, "
        "version, sha256, imgsz, class names), which every DetectionsProduced reports. Needs "
        "`make install-export` (Ultralytics + torch). quantize: the fp32 ONNX model -> an INT8 OpenVINO IR "
        "(NNCF post-training quantisation calibrated on frames of your clips; the openvino backend runs it, "
        "ITS_INFERENCE_MODEL_PATH or ITS_INFERENCE_INT8_MODEL_PATH pointing at the .xml). info: load a model as the "
        "inference worker would and print its metadata.",
    )
    msub = mp.add_subparsers(dest="action", required=True, metavar="ACTION")
    ex = msub.add_parser("export", help="Export a .pt checkpoint.")
    ex.add_argument("--weights", required=True, help="Ultralytics YOLO11 .pt checkpoint.")
    ex.add_argument("--format", choices=["onnx", "engine"], default="onnx", help="onnx (default) or engine.")
    ex.add_argument("--imgsz", type=int, default=640, help="Longer side of the model input (640).")
    ex.add_argument("--half", action="store_true", help="engine: FP16 (default for engines: FP32 unless given).")
    ex.add_argument("--int8", action="store_true", help="engine: INT8 with FP16 fallback; needs --calibration.")
    ex.add_argument("--batch", type=int, default=1, help="engine: largest batch of its profile (1).")
    ex.add_argument("--calibration", help="engine --int8: folder of JPEG frames from your cameras.")
    ex.add_argument("--square", action="store_true", help="engine: imgsz x imgsz input instead of 16:9.")
    ex.add_argument("--out-dir", help="Where to write (default: next to the weights).")
    ex.add_argument("--model-version", help="Version label (default: the weights' sha256 prefix).")
    qu = msub.add_parser(
        "quantize",
        help="ONNX -> INT8 OpenVINO IR (<stem>.int8.xml/.bin + .meta.json). It does not pass the 98 %% accuracy gate "
        "on the shared clips (91-95 %%): see inference/quantize.py.",
    )
    qu.add_argument("--model", help="fp32 YOLO11 ONNX file (default: ITS_INFERENCE_MODEL_PATH).")
    qu.add_argument("--data", help="Folder of clips (*.mp4) to calibrate on (default: the shared clips).")
    qu.add_argument("--frames", type=int, default=300, help="Calibration frames, spread evenly over the clips (300).")
    qu.add_argument("--preset", choices=["mixed", "performance"], default="mixed", help="NNCF preset (mixed).")
    qu.add_argument("--out-dir", help="Where to write (default: <stack home>/models, i.e. .stack/models).")
    qu.add_argument("--model-version", help="Version label (default: the source model's).")
    info = msub.add_parser("info", help="Load a model and print its metadata.")
    info.add_argument("path", help="Model file (.onnx, .xml, .pt, .engine).")
    info.add_argument("--backend", choices=["onnxruntime", "openvino", "torch", "tensorrt"], default="onnxruntime")
    info.add_argument("--device", default="cuda:0", help="torch/tensorrt device (cuda:0).")
    mp.set_defaults(fn=cmd_model)
