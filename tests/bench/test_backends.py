"""`itscam bench inference --backends`: which backends are measured, what each is called, which one won."""

from __future__ import annotations

import pytest

from bench.backends import compare, cpu_info, default_backends, label, variants
from inference import InferenceSettings


def _rounds(consumer: list[float], bare: list[float]) -> dict[str, list[dict[str, float]]]:
    return {
        "consumer": [{"fps": x} for x in consumer],
        "bare": [{"fps": x} for x in bare],
        "model": [{"fps": x * 1.2} for x in bare],
    }


def test_variants_take_a_precision_after_a_colon_and_keep_the_order() -> None:
    s = InferenceSettings(precision="auto")
    got = variants("onnxruntime, openvino:fp32,openvino", s)
    assert [(v.backend, v.precision) for v in got] == [
        ("onnxruntime", "auto"),
        ("openvino", "fp32"),
        ("openvino", "auto"),
    ]
    with pytest.raises(ValueError, match="--backends"):
        variants(" , ", s)


def test_the_best_is_the_fastest_consumer_compared_with_onnxruntime_fp32_of_the_same_rounds() -> None:
    r = compare(
        ["onnxruntime-fp32", "openvino-bf16"],
        [_rounds([30.0, 35.0, 32.0], [36.0, 36.0, 36.0]), _rounds([70.0, 80.0, 75.0], [78.0, 80.0, 82.0])],
    )
    assert (r["best_backend"], r["best_consumer_fps"], r["ort_fp32_consumer_fps"]) == ("openvino-bf16", 75.0, 32.0)
    assert r["best_ratio_consumer_bare"] == round(75 / 80, 3) and r["ratio_best_ort_fp32"] == round(75 / 32, 3)
    assert r["backends"]["onnxruntime-fp32"]["rounds_consumer_fps"] == [30.0, 35.0, 32.0]


def test_without_onnxruntime_there_is_no_ratio_to_it() -> None:
    r = compare(["openvino-fp32"], [_rounds([20.0], [21.0])])
    assert r["ort_fp32_consumer_fps"] is None and r["ratio_best_ort_fp32"] is None


def test_labels_name_the_precision_a_backend_runs_at() -> None:
    class Ort:
        name = "onnxruntime"

    class Ov:
        name, precision = "openvino", "bf16"

    assert (label(Ort()), label(Ov())) == ("onnxruntime-fp32", "openvino-bf16")
    assert "avx2" in cpu_info()["flags"]  # every x86-64 machine this runs on has it


def test_by_default_a_cpu_backend_is_measured_beside_the_other_and_a_gpu_backend_alone() -> None:
    assert default_backends("onnxruntime") == default_backends("openvino") == "onnxruntime,openvino"
    assert default_backends("tensorrt") == default_backends("torch") == ""


def test_the_best_backend_must_pass_the_accuracy_gate_the_fastest_is_kept_beside_it() -> None:
    r = compare(
        ["onnxruntime-fp32", "openvino-bf16", "openvino-int8"],
        [_rounds([30.0], [36.0]), _rounds([50.0], [55.0]), _rounds([66.0], [80.0])],
        {"onnxruntime-fp32": 1.0, "openvino-bf16": 0.996, "openvino-int8": 0.94},
    )
    assert (r["best_backend"], r["fastest_backend"], r["best_consumer_fps"]) == ("openvino-bf16", "openvino-int8", 50.0)
    assert r["backends"]["openvino-int8"]["gate_coverage"] == 0.94 and not r["backends"]["openvino-int8"]["passes_gate"]
