"""`itscam inference`: YOLO11 on its.frames.v1 into its.detections.v1 (inference/)."""

from __future__ import annotations

import argparse
from typing import Any

from itscam._args import on_stop_signal, overrides

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from inference import DetectorPool, InferenceSettings
    from inference.worker import InferenceWorker

    s = InferenceSettings(
        **overrides(
            args,
            ["backend", "model_path", "device", "imgsz", "classes", "max_batch", "workers", "threads", "metrics_port"],
        )
    )
    pool = DetectorPool.from_settings(s)
    pool.warmup()
    worker = InferenceWorker(s, pool)
    on_stop_signal(worker.stop)
    worker.run()
    return 0


def add_parser(sub: Any) -> None:
    inf = sub.add_parser(
        "inference",
        help="Run YOLO11 on its.frames.v1 into its.detections.v1.",
        description="Consume frames in batches, decode them in a thread pool, run YOLO11 (ONNX Runtime on CPU, "
        "PyTorch or TensorRT on a GPU), produce DetectionsProduced exactly once (Kafka transactions with the "
        "consumed offsets); undetectable frames go to its.dlq.v1 with a reason. Settings: ITS_INFERENCE_*.",
    )
    inf.add_argument("--backend", choices=["onnxruntime", "torch", "tensorrt"], help="ITS_INFERENCE_BACKEND.")
    inf.add_argument("--model-path", help="Model file: .onnx, .pt or .engine (ITS_INFERENCE_MODEL_PATH).")
    inf.add_argument("--device", help="GPU for torch/tensorrt (cuda:0).")
    inf.add_argument("--classes", help="Classes kept, names or ids (person,bicycle,car,motorcycle,bus,truck; all).")
    inf.add_argument("--imgsz", type=int, help="Model input size (640).")
    inf.add_argument("--max-batch", type=int, help="Most frames per model call (4; GPU 32-64).")
    inf.add_argument("--workers", type=int, help="Model sessions side by side (0 = one per core).")
    inf.add_argument("--threads", type=int, help="ONNX Runtime threads per session (1; 0 = per core).")
    inf.add_argument("--metrics-port", type=int, help="Prometheus port (9102; 0 = off).")
    inf.set_defaults(fn=_cmd)
