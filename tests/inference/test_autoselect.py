"""ITS_INFERENCE_BACKEND=auto: the fastest runtime that passes the accuracy gate here, said at start-up."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inference import InferenceSettings
from inference.autoselect import candidates, choose, fastest_passing
from inference.pool import DetectorPool
from tests.conftest import MODEL, SHARED


def test_the_fastest_candidate_that_fails_the_gate_is_not_chosen() -> None:
    found = {
        "onnxruntime-fp32": {"fps": 30.0, "coverage": 1.0},
        "openvino-bf16": {"fps": 50.0, "coverage": 0.985},
        "openvino-int8": {"fps": 80.0, "coverage": 0.9},
        "openvino-fp32": {"error": "cannot load"},
    }
    assert fastest_passing(found) == "openvino-bf16"
    found["openvino-bf16"]["coverage"] = 0.97
    assert fastest_passing(found) == "onnxruntime-fp32"


def test_the_int8_model_is_a_candidate_only_where_it_exists(tmp_path: Path) -> None:
    assert candidates(str(MODEL))[0].label == "onnxruntime-fp32"
    assert "openvino-int8" not in [c.label for c in candidates(str(MODEL), str(tmp_path / "none.int8.xml"))]
    ir = tmp_path / "yolo11n.int8.xml"
    ir.write_text("<net/>")
    assert [c.model_path for c in candidates(str(MODEL), str(ir)) if c.label == "openvino-int8"] == [str(ir)]


def test_auto_measures_each_runtime_on_the_shared_clips_and_says_which_and_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = InferenceSettings(backend="auto", model_path=str(MODEL), gate_data=str(SHARED / "data"), workers=2)
    with caplog.at_level(logging.INFO, logger="inference.autoselect"):
        chosen = choose(s)
    (rec,) = [r for r in caplog.records if r.getMessage().startswith("inference backend auto:")]
    figures = rec.candidates  # type: ignore[attr-defined]
    assert figures["onnxruntime-fp32"]["coverage"] == 1.0  # the reference against itself
    assert {"onnxruntime-fp32", "openvino-fp32"} <= set(figures)
    label = f"{chosen.backend}-{'int8' if chosen.model_path.endswith('.int8.xml') else chosen.precision}"
    assert label == fastest_passing(figures) and label in rec.getMessage()
    pool = DetectorPool.from_settings(s)  # what the worker runs: the chosen runtime
    assert pool.first.backend.name == chosen.backend
    pool.close()


def test_without_gate_frames_auto_keeps_onnxruntime_fp32_and_says_how_to_give_it_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = InferenceSettings(backend="auto", model_path=str(MODEL), gate_data=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="inference.autoselect"):
        chosen = choose(s)
    assert (chosen.backend, chosen.precision) == ("onnxruntime", "fp32")
    assert "ITS_INFERENCE_GATE_DATA" in caplog.text and str(tmp_path) in caplog.text


def test_auto_with_a_model_no_runtime_loads_names_the_file_and_the_fix(tmp_path: Path) -> None:
    from inference.errors import ModelLoadError

    missing = tmp_path / "models" / "nope.onnx"
    s = InferenceSettings(backend="auto", model_path=str(missing), gate_data=str(SHARED / "data"))
    with pytest.raises(ModelLoadError, match=r"no runtime could load .*nope\.onnx.*ITS_INFERENCE_MODEL_PATH"):
        choose(s)
