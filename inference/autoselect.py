"""`ITS_INFERENCE_BACKEND=auto`: the fastest CPU runtime that passes the accuracy gate on the machine it runs on.

Which runtime is fastest depends on the CPU (OpenVINO bf16 needs AMX or AVX512-BF16; INT8 gains most with AMX or
VNNI), and whether a faster precision is accurate enough depends on the model: so neither is guessed. At start-up
the worker runs each candidate on gate frames (`ITS_INFERENCE_GATE_DATA`: traffic images or clips; default the
shared clips) beside fp32 ONNX Runtime, the reference:
- onnxruntime fp32, the reference itself;
- openvino fp32, and bf16 where the CPU computes bf16 natively;
- openvino int8, when the model's INT8 IR (`itscam model quantize`) is at `ITS_INFERENCE_INT8_MODEL_PATH` (default
  `<stem>.int8.xml` beside the model).
A candidate passes when it covers >= 98 % of the reference's detections (gate.py); among those that pass, the one
with the most frames/s (the gate frames through as many sessions as the worker will run, side by side) is used. One
log line says which and why, with every candidate's figures. Without gate frames no precision can be checked, so auto
keeps fp32 ONNX Runtime and says how to give it frames.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.backends import PostParams, load_backend
from inference.detector import Detector
from inference.errors import ModelLoadError
from inference.gate import GATE_COVERAGE, coverage, gate_frames
from inference.quantize import INT8_SUFFIX

__all__ = ["Candidate", "candidates", "choose", "fastest_passing"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    backend: str
    precision: str
    model_path: str

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"


def _bf16_native() -> bool:
    try:
        from inference.backends.openvino import cpu_precisions
    except ImportError:
        return False
    return "BF16" in cpu_precisions()


def candidates(model_path: str, int8_path: str = "") -> list[Candidate]:
    """What auto may choose for the fp32 ONNX model at `model_path` (its INT8 IR at `int8_path`, default
    `<stem>.int8.xml` beside it), the reference first."""
    out = [Candidate("onnxruntime", "fp32", model_path)]
    try:
        import openvino  # noqa: F401
    except ImportError:
        return out
    out.append(Candidate("openvino", "fp32", model_path))
    if _bf16_native():
        out.append(Candidate("openvino", "bf16", model_path))
    int8 = Path(int8_path) if int8_path else Path(model_path).with_suffix("").with_suffix(INT8_SUFFIX)
    if int8.is_file():
        out.append(Candidate("openvino", "int8", str(int8)))
    return out


def _detectors(c: Candidate, s: Any, n: int, params: PostParams) -> list[Detector]:
    precision = "auto" if c.precision == "int8" else c.precision  # int8 is the IR's; the rest runs as auto says
    return [
        Detector(
            load_backend(c.backend, c.model_path, s.threads, s.spin, imgsz=s.imgsz, precision=precision),
            s.imgsz,
            params,
        )
        for _ in range(n)
    ]


def _fps(dets: list[Detector], frames: list[npt.NDArray[np.uint8]], rounds: int = 2) -> float:
    """Frames per second of the frames spread over the sessions side by side (after one warm-up pass)."""
    n = len(dets)
    work = [frames[k % len(frames)] for k in range(rounds * len(frames))]

    def session(i: int, share: list[npt.NDArray[np.uint8]]) -> None:  # a session is never used by two threads
        for img in share:
            dets[i].detect([img])

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(session, range(n), [frames[:1]] * n))
        t = time.perf_counter()
        list(pool.map(session, range(n), [work[i::n] for i in range(n)]))
        return len(work) / (time.perf_counter() - t)


def fastest_passing(found: dict[str, dict[str, Any]]) -> str:
    """The label with the most frames/s among those at or above the gate's coverage (the reference always is)."""
    passing = {k: v for k, v in found.items() if "fps" in v and v["coverage"] >= GATE_COVERAGE}
    return max(passing, key=lambda k: passing[k]["fps"])


def choose(s: Any) -> Any:
    """`s` (InferenceSettings with backend auto) with the backend, precision and model path auto chose."""
    data = Path(s.gate_data) if s.gate_data else Path(s.model_path).parents[1] / "data"
    frames = gate_frames(data)
    ref = Candidate("onnxruntime", "fp32", s.model_path)
    if not frames:
        log.warning(
            "inference backend auto: onnxruntime-fp32, since no gate frames were found in %s to check any faster "
            "precision against it; set ITS_INFERENCE_GATE_DATA to a folder of traffic images or clips",
            data,
        )
        return s.model_copy(update={"backend": ref.backend, "precision": "fp32"})
    n = s.workers or os.cpu_count() or 1
    params = PostParams(s.conf, s.iou, s.max_det)
    found: dict[str, dict[str, Any]] = {}
    reference: list[npt.NDArray[np.float32]] = []
    for c in candidates(s.model_path, s.int8_model_path):
        try:
            dets = _detectors(c, s, n, params)
        except Exception as e:  # a runtime that cannot load here is not a candidate, and the log says why
            found[c.label] = {"error": str(e)[:200]}
            continue
        boxes = [dets[0].detect([f])[0].boxes for f in frames]
        if c == ref:
            reference = boxes
        elif not reference:  # the reference itself could not load: nothing to check this one against
            found[c.label] = {"error": "fp32 ONNX Runtime, the gate's reference, did not load"}
            continue
        hit, total = coverage(reference, boxes)
        share = hit / total if total else 1.0
        found[c.label] = {"fps": round(_fps(dets, frames), 1), "coverage": round(share, 4), "candidate": c}
    if not any("fps" in v for v in found.values()):
        raise ModelLoadError(
            f"ITS_INFERENCE_BACKEND=auto: no runtime could load {s.model_path} ({found}); check "
            "ITS_INFERENCE_MODEL_PATH, or name a backend with ITS_INFERENCE_BACKEND"
        )
    best = fastest_passing(found)
    pick: Candidate = found[best]["candidate"]
    log.info(
        "inference backend auto: %s, the fastest of those covering >= %.0f %% of fp32 ONNX Runtime's detections on "
        "%d gate frames of %s",
        best,
        100 * GATE_COVERAGE,
        len(frames),
        data,
        extra={"candidates": {k: {kk: vv for kk, vv in v.items() if kk != "candidate"} for k, v in found.items()}},
    )
    precision = "auto" if pick.precision == "int8" else pick.precision
    return s.model_copy(update={"backend": pick.backend, "precision": precision, "model_path": pick.model_path})
