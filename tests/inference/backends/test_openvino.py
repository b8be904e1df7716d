"""The OpenVINO backend and its accuracy gate: on frames of the shared clips, each precision must find what fp32
ONNX Runtime finds. A fp32 detection (conf >= 0.25) is covered when the backend has a box of the same class at IoU
>= 0.9 with it (one to one); at least 98 % must be covered (inference/gate.py). bf16 runs only on a CPU with native
bf16; the INT8 IR is checked in tests/inference/test_quantize.py."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bench.counting import load_clips
from inference.backends import load_backend
from inference.backends.openvino import OpenVinoBackend, cpu_precisions
from inference.detector import Detector
from inference.errors import ModelLoadError
from inference.gate import GATE_COVERAGE, coverage
from tests.conftest import MODEL, SHARED


@cache
def clip_frames(per_clip: int = 12, step: int = 10) -> tuple[npt.NDArray[np.uint8], ...]:
    """Every `step`-th frame of each shared clip, `per_clip` of them."""
    out = []
    for clip in load_clips(SHARED / "data"):
        cap = cv2.VideoCapture(str(clip.path))
        kept = i = 0
        while kept < per_clip:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                out.append(img)
                kept += 1
            i += 1
        cap.release()
    return tuple(out)


def detections(det: Detector, frames: tuple[npt.NDArray[np.uint8], ...]) -> list[npt.NDArray[np.float32]]:
    """Per frame, what the detector reports ([n, 6] boxes in frame pixels), one frame per call as the gate runs."""
    return [det.detect([f])[0].boxes for f in frames]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_openvino_passes_the_accuracy_gate_against_fp32_onnxruntime(precision: str) -> None:
    if precision == "bf16" and "BF16" not in cpu_precisions():
        pytest.skip(f"this CPU has no native bf16 (OpenVINO reports {cpu_precisions()}): the bf16 gate needs one")
    frames = clip_frames()
    assert len(frames) == 24
    ref = detections(Detector(load_backend("onnxruntime", str(MODEL), 1)), frames)
    got = detections(Detector(load_backend("openvino", str(MODEL), 1, precision=precision)), frames)
    matched, total = coverage(ref, got)
    assert total > 200  # real traffic: enough boxes that 2 % is a few of them
    assert matched / total >= GATE_COVERAGE, f"{precision}: {matched} of {total} fp32 detections covered"


def test_the_gate_fails_a_backend_whose_boxes_move() -> None:
    """The gate (inference/gate.py, the rule auto applies too) can fail: boxes shifted by 4 px (about what a wrong
    letterbox would do) cover far fewer."""
    frames = clip_frames()[:6]
    ref = detections(Detector(load_backend("onnxruntime", str(MODEL), 1)), frames)
    shifted = [np.concatenate([b[:, :4] + 4.0, b[:, 4:]], axis=1) for b in ref]
    matched, total = coverage(ref, shifted)
    assert total and matched / total < GATE_COVERAGE


def test_openvino_reads_the_models_metadata_like_onnxruntime() -> None:
    ov = load_backend("openvino", str(MODEL), 1, precision="fp32")
    ort = load_backend("onnxruntime", str(MODEL), 1)
    assert isinstance(ov, OpenVinoBackend) and ov.precision == "fp32"
    assert (ov.meta, ov.fixed_hw, ov.max_batch) == (ort.meta, ort.fixed_hw, ort.max_batch)
    bf16 = load_backend("openvino", str(MODEL), 1)
    assert bf16.meta.precision == bf16.precision  # type: ignore[attr-defined]  # what the events report


def test_auto_precision_is_bf16_exactly_where_the_cpu_computes_it() -> None:
    b = load_backend("openvino", str(MODEL), 1)
    assert b.precision == ("bf16" if "BF16" in cpu_precisions() else "fp32")  # type: ignore[attr-defined]


def test_a_missing_model_and_an_unknown_precision_are_refused_naming_the_fix() -> None:
    with pytest.raises(ModelLoadError, match="ITS_INFERENCE_MODEL_PATH"):
        load_backend("openvino", "/nonexistent/model.onnx", 1)
    with pytest.raises(ValueError, match="ITS_INFERENCE_PRECISION"):
        OpenVinoBackend(str(MODEL), 1, precision="int4")


def test_a_model_file_openvino_does_not_read_is_refused_naming_the_two_it_does(tmp_path: Path) -> None:
    engine = tmp_path / "yolo11n.engine"
    engine.write_bytes(b"\0" * 64)
    with pytest.raises(ModelLoadError, match=r"\.onnx.*\.xml"):
        OpenVinoBackend(str(engine))
