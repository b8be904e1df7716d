"""Backends side by side in `itscam bench inference`: which to measure, what to call each, which won.

`--backends onnxruntime,openvino` (the default on CPU) measures each with its own bare model and consumer in the
same run, rounds alternating (bench/inference.py). A name may carry a precision, `openvino:fp32`; plain `openvino`
takes ITS_INFERENCE_PRECISION (auto: bf16 where the CPU has it). `openvino:int8` runs the INT8 IR of `itscam model
quantize` (ITS_INFERENCE_INT8_MODEL_PATH, default .stack/models/<stem>.int8.xml), its float layers as auto says.
The best backend is the one whose consumer is fastest; it is compared with ONNX Runtime fp32's consumer, the default
backend, measured in the same rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["compare", "cpu_info", "default_backends", "label", "variants"]

#: CPU flags that decide which precisions a CPU backend can use (from /proc/cpuinfo)
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def default_backends(backend: str) -> str:
    """What `--backends` means when not given: on a CPU both CPU backends side by side; a GPU backend alone ("")."""
    return "onnxruntime,openvino" if backend in ("onnxruntime", "openvino") else ""


def variants(spec: str, settings: Any) -> list[Any]:
    """The settings of each backend in `spec` ("onnxruntime,openvino:bf16"), the first one first."""
    out = []
    for item in (x.strip() for x in spec.split(",") if x.strip()):
        name, _, precision = item.partition(":")
        update: dict[str, Any] = {"backend": name}
        if precision == "int8":
            update |= {"precision": "auto", "model_path": str(_int8_model(settings))}
        elif precision:
            update["precision"] = precision
        out.append(settings.model_copy(update=update))
    if not out:
        raise ValueError("--backends names no backend; e.g. --backends onnxruntime,openvino")
    return out


def _int8_model(settings: Any) -> Path:
    from inference.quantize import INT8_SUFFIX
    from itscam.model import default_quantize_dir

    path = Path(settings.int8_model_path or default_quantize_dir() / (Path(settings.model_path).stem + INT8_SUFFIX))
    if not path.is_file():
        raise ValueError(
            f"--backends openvino:int8 runs the INT8 IR {path}, which does not exist: run `itscam model quantize` "
            "first, or set ITS_INFERENCE_INT8_MODEL_PATH to the .xml it wrote."
        )
    return path


def label(backend: Any) -> str:
    """onnxruntime-fp32, openvino-bf16, ...: the backend and the precision it runs at."""
    return f"{backend.name}-{getattr(backend, 'precision', 'fp32')}"


def cpu_info() -> dict[str, Any]:
    """The CPU's model name and which of the flags that matter here it has (Linux; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    return {"model": model, "flags": [f for f in _FLAGS if f in flags]}


def gate_coverage(detectors: list[Any], names: list[str], data: Path, n: int = 24) -> dict[str, float]:
    """Per backend the share of fp32 ONNX Runtime's detections it finds on `n` gate frames of `data` (inference/
    gate.py's rule); empty without ONNX Runtime fp32 among them or without frames."""
    from inference.gate import coverage, gate_frames

    frames = gate_frames(data, n)
    if "onnxruntime-fp32" not in names or not frames:
        return {}
    boxes = {name: [d.detect([f])[0].boxes for f in frames] for name, d in zip(names, detectors, strict=True)}
    out = {}
    for name, got in boxes.items():
        hit, total = coverage(boxes["onnxruntime-fp32"], got)
        out[name] = round(hit / total, 4) if total else 1.0
    return out


def compare(
    names: list[str], rounds: list[dict[str, list[dict[str, Any]]]], gate: dict[str, float] | None = None
) -> dict[str, Any]:
    """Per backend its medians and accuracy-gate coverage; the best is the fastest consumer among those that pass the
    gate (or were not gated), against ONNX Runtime fp32's (None when it was not run)."""
    from inference.gate import GATE_COVERAGE

    gate = gate or {}

    def med(xs: list[dict[str, Any]]) -> float:
        return float(np.median([x["fps"] for x in xs]))

    per: dict[str, dict[str, Any]] = {}
    for name, r in zip(names, rounds, strict=True):
        consumer, bare = med(r["consumer"]), med(r["bare"])
        per[name] = {
            "consumer_fps": round(consumer, 2),
            "bare_fps": round(bare, 2),
            "model_only_fps": round(med(r["model"]), 2),
            "ratio_consumer_bare": round(consumer / bare, 3),
            "rounds_consumer_fps": [round(x["fps"], 2) for x in r["consumer"]],
            "gate_coverage": gate.get(name),
            "passes_gate": gate.get(name, 1.0) >= GATE_COVERAGE,
        }
    fastest = max(per, key=lambda n: per[n]["consumer_fps"])
    best = max((n for n in per if per[n]["passes_gate"]), key=lambda n: per[n]["consumer_fps"], default=fastest)
    ort = per.get("onnxruntime-fp32", {}).get("consumer_fps")
    return {
        "backends": per,
        "best_backend": best,
        "fastest_backend": fastest,  # the gate aside
        "best_consumer_fps": per[best]["consumer_fps"],
        "best_ratio_consumer_bare": per[best]["ratio_consumer_bare"],
        "ort_fp32_consumer_fps": ort,
        "ratio_best_ort_fp32": round(per[best]["consumer_fps"] / ort, 3) if ort else None,
        "cpu": cpu_info(),
    }
