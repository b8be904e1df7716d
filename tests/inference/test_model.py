"""Model files: metadata, start-up checks of the output shape, static-input models, class filters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference import Detector, ModelLoadError, load_backend
from inference.model import ModelMetadata, anchors_for, check_output_shape, metadata_path, resolve_classes
from tests.conftest import MODEL, SHARED

STATIC_320 = SHARED / "models" / "yolo11n_int8_320.onnx"


def _tiny_onnx(path: Path, out_dims: list[int | str]) -> Path:
    """A real ONNX graph taking [N, 3, H, W] whose output is not a YOLO11 detection output."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_dims)
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "not-yolo", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_wrong_output_shape_fails_at_start_up_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    bad = _tiny_onnx(tmp_path / "classifier.onnx", ["batch", 3])
    with pytest.raises(ModelLoadError) as e:
        load_backend("onnxruntime", str(bad), 1)
    msg = str(e.value)
    assert str(bad) in msg and "2-D output" in msg
    assert "itscam model export" in msg


def test_corrupt_model_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "yolo11n.onnx"
    bad.write_bytes(MODEL.read_bytes()[:100_000])  # truncated download
    with pytest.raises(ModelLoadError) as e:
        load_backend("onnxruntime", str(bad), 1)
    assert str(bad) in str(e.value) and "itscam model export" in str(e.value)


def test_reference_model_metadata_comes_from_the_file_itself() -> None:
    backend = load_backend("onnxruntime", str(MODEL), 1)
    meta = backend.meta
    assert meta.sha256 == "24d7c887c9a6dade3bfe7654c1df21c6b1c30b618b51cc05a35ee350dcf1be71"
    assert meta.version == meta.sha256[:12] and meta.name == "yolo11n" and meta.imgsz == 640
    assert meta.class_names[:3] == ["person", "bicycle", "car"] and len(meta.class_names) == 80
    assert meta.toolchain.get("ultralytics", "").startswith("8.")
    assert backend.fixed_hw is None and backend.max_batch == 0


def test_a_sidecar_for_another_file_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "yolo11n.onnx"
    model.write_bytes(MODEL.read_bytes())
    stale = ModelMetadata(name="yolo11n", version="v1", sha256="0" * 64, imgsz=640, class_names=["car"])
    stale.write(model)
    with pytest.raises(ModelLoadError, match="replaced without its metadata"):
        load_backend("onnxruntime", str(model), 1)
    metadata_path(model).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid"):
        load_backend("onnxruntime", str(model), 1)


def test_a_sidecar_gives_version_and_names(tmp_path: Path) -> None:
    from inference.model import file_sha256

    model = tmp_path / "yolo11n.onnx"
    model.write_bytes(MODEL.read_bytes())
    names = [f"c{i}" for i in range(80)]
    ModelMetadata(name="city-yolo", version="2026.11", sha256=file_sha256(model), imgsz=640, class_names=names).write(
        model
    )
    meta = load_backend("onnxruntime", str(model), 1).meta
    assert (meta.name, meta.version, meta.class_names[5]) == ("city-yolo", "2026.11", "c5")
    assert json.loads(metadata_path(model).read_text())["version"] == "2026.11"


def test_a_sidecar_with_the_wrong_number_of_classes_is_refused(tmp_path: Path) -> None:
    from inference.model import file_sha256

    model = tmp_path / "yolo11n.onnx"
    model.write_bytes(MODEL.read_bytes())
    ModelMetadata(name="m", version="1", sha256=file_sha256(model), imgsz=640, class_names=["car", "bus"]).write(model)
    with pytest.raises(ModelLoadError, match=r"84 rows where 4 \+ 2 classes = 6 were expected"):
        load_backend("onnxruntime", str(model), 1)


def test_a_static_input_model_gets_its_own_size_and_batches_of_one(test_image: Callable[[str], Path]) -> None:
    backend = load_backend("onnxruntime", str(STATIC_320), 1, imgsz=640)
    assert backend.fixed_hw == (320, 320) and backend.max_batch == 1
    det = Detector(backend, imgsz=640)
    img = cv2.imread(str(test_image("bus.jpg")))
    res = det.detect([img, img[:, ::-1].copy(), img])
    assert [r.batch_size for r in res] == [1, 1, 1]
    names = backend.meta.class_names
    assert sum(names[int(b[5])] == "person" for b in res[0].boxes) >= 3
    np.testing.assert_allclose(res[0].boxes, res[2].boxes)


@pytest.mark.parametrize(
    ("shape", "batch", "hw", "nc", "error"),
    [
        ((1, 84, 8400), 1, (640, 640), 80, None),
        ((4, 84, 5040), 4, (384, 640), 80, None),
        ((1, 6, 2100), 1, (320, 320), 2, None),
        ((1, 84, 8400), 1, (384, 640), 80, "8400 anchors where a 384x640 input gives 5040"),
        ((2, 84, 8400), 1, (640, 640), 80, "batch 2 for an input batch of 1"),
        ((1, 85, 8400), 1, (640, 640), 80, "85 rows where 4 + 80 classes = 84"),
        ((1, 1000), 1, (640, 640), 80, "2-D output"),
        ((1, 300, 6), 1, (640, 640), 80, "300 rows"),  # an end-to-end (NMS inside) export
    ],
)
def test_output_shape_table(
    shape: tuple[int, ...], batch: int, hw: tuple[int, int], nc: int, error: str | None
) -> None:
    if error is None:
        assert check_output_shape("m.onnx", shape, batch, *hw, nc) == nc
    else:
        with pytest.raises(ModelLoadError, match=r"m\.onnx") as e:
            check_output_shape("m.onnx", shape, batch, *hw, nc)
        assert error in str(e.value)


def test_anchors() -> None:
    assert anchors_for(640, 640) == 8400 and anchors_for(384, 640) == 5040 and anchors_for(320, 320) == 2100


def test_resolve_classes() -> None:
    names = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"]
    assert resolve_classes("person,bicycle,car,motorcycle,bus,truck", names) == (0, 1, 2, 3, 5, 7)
    assert resolve_classes("car, 7", names) == (2, 7)
    assert resolve_classes("all", names) is None and resolve_classes("", names) is None
    with pytest.raises(ModelLoadError, match="'tram' in ITS_INFERENCE_CLASSES"):
        resolve_classes("car,tram", names)
