"""`itscam model export`: the reference .pt through Ultralytics' exporter, metadata next to the result."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference import Detector, ModelLoadError, load_backend
from inference.export import ExportRequest, export_model
from inference.model import file_sha256, metadata_path
from itscam.main import main
from tests.conftest import MODEL, SHARED

WEIGHTS = SHARED / "models" / "yolo11n.pt"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    assert main(["model", "export", "--weights", str(WEIGHTS), "--out-dir", str(out), "--model-version", "t1"]) == 0
    return out / "yolo11n.onnx"


def test_export_writes_onnx_and_its_metadata(exported: Path) -> None:
    meta = json.loads(metadata_path(exported).read_text())
    assert meta["sha256"] == file_sha256(exported) and meta["version"] == "t1" and meta["name"] == "yolo11n"
    assert meta["imgsz"] == 640 and meta["format"] == "onnx" and meta["precision"] == "fp32"
    assert meta["class_names"][:3] == ["person", "bicycle", "car"] and len(meta["class_names"]) == 80
    assert meta["source"] == f"yolo11n.pt@{file_sha256(WEIGHTS)}" and meta["toolchain"]["ultralytics"]
    assert not list(exported.parent.glob(".export-*")), "scratch folder left behind"


def test_the_exported_model_loads_with_its_metadata_and_detects_like_the_reference(
    exported: Path, test_image: Callable[[str], Path]
) -> None:
    backend = load_backend("onnxruntime", str(exported), 1)
    assert backend.meta.version == "t1" and backend.meta.sha256 == file_sha256(exported)
    img = cv2.imread(str(test_image("bus.jpg")))
    ours = Detector(backend).detect([img])[0].boxes
    ref = Detector(load_backend("onnxruntime", str(MODEL), 1)).detect([img])[0].boxes
    assert ours[:, 5].tolist() == ref[:, 5].tolist()
    np.testing.assert_allclose(ours[:, :5], ref[:, :5], atol=0.5)


def test_export_refuses_bad_requests_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        export_model(ExportRequest(weights=tmp_path / "nope.pt"))
    with pytest.raises(ModelLoadError, match="--format engine"):
        export_model(ExportRequest(weights=WEIGHTS, int8=True, out_dir=tmp_path))
    with pytest.raises(ModelLoadError, match="multiple of 32"):
        export_model(ExportRequest(weights=WEIGHTS, imgsz=100, out_dir=tmp_path))
    with pytest.raises(ModelLoadError, match=r"\.pt checkpoint"):
        export_model(ExportRequest(weights=MODEL, out_dir=tmp_path))


def test_model_info_prints_what_the_worker_would_load(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "info", str(exported)]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["version"] == "t1" and info["max_batch"] == 0 and info["fixed_hw"] is None


def test_engine_export_without_tensorrt_says_what_is_needed(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here; tests/inference/test_engine.py builds real engines")
    with pytest.raises(ModelLoadError, match="TensorRT is not installed") as e:
        export_model(ExportRequest(weights=WEIGHTS, format="engine", batch=32, half=True, out_dir=tmp_path))
    assert "CUDA GPU" in str(e.value) and not list(tmp_path.iterdir())
