"""The PyTorch backend: real torch and the reference .pt on this machine's CPU (FP32); FP16 on CUDA where a GPU is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch  # the test suite needs the export toolchain (`make install-export`; `make test` installs it)

from inference import Detector, ModelLoadError, PostParams, load_backend
from inference.backends.base import HostDecode
from inference.backends.torch import TorchBackend, decode_torch
from tests.conftest import MODEL, SHARED

WEIGHTS = SHARED / "models" / "yolo11n.pt"


def _has_cuda() -> bool:
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="module")
def onnx_detector() -> Detector:
    return Detector(load_backend("onnxruntime", str(MODEL), 1))


def _same_detections(a: np.ndarray, b: np.ndarray, px: float, conf: float) -> None:
    assert a[:, 5].tolist() == b[:, 5].tolist()
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=px)
    np.testing.assert_allclose(a[:, 4], b[:, 4], atol=conf)


@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_torch_on_cpu_detects_like_onnxruntime(
    onnx_detector: Detector, test_image: Callable[[str], Path], image: str
) -> None:
    det = Detector(load_backend("torch", str(WEIGHTS), device="cpu", half=False))
    assert det.backend.meta.precision == "fp32" and det.backend.meta.class_names[2] == "car"
    img = cv2.imread(str(test_image(image)))
    _same_detections(det.detect([img])[0].boxes, onnx_detector.detect([img])[0].boxes, px=0.5, conf=1e-3)


@pytest.mark.parametrize(
    "params",
    [PostParams(), PostParams(conf=0.1, classes=(0, 27)), PostParams(conf=0.05, max_det=3), PostParams(iou=0.3)],
)
def test_batched_torch_decode_equals_the_numpy_decode(
    onnx_detector: Detector, test_image: Callable[[str], Path], params: PostParams
) -> None:
    img = cv2.imread(str(test_image("zidane.jpg")))
    items = [onnx_detector.prepare_image(x) for x in (img, img[:, ::-1].copy(), img[::2, ::2].copy())]
    from inference.preprocess import to_batch

    raw = onnx_detector.backend.run(to_batch(items))
    shapes = [it.orig_shape for it in items]
    want = HostDecode().decode(raw, items[0].shape, shapes, params)
    got = decode_torch(torch.from_numpy(raw), items[0].shape, shapes, params)
    for g, w in zip(got, want, strict=True):
        assert len(w) > 0
        _same_detections(g, w, px=1e-3, conf=1e-6)


def test_torch_backend_refuses_what_it_cannot_do_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="ITS_INFERENCE_HALF=false"):
        TorchBackend(str(WEIGHTS), device="cpu", half=True)
    with pytest.raises(ModelLoadError, match="does not exist"):
        TorchBackend(str(tmp_path / "nope.pt"), device="cpu", half=False)
    if not _has_cuda():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            TorchBackend(str(WEIGHTS), device="cuda:0", half=True)


@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU; none on this machine")
def test_torch_fp16_on_cuda_detects_like_onnxruntime(
    onnx_detector: Detector, test_image: Callable[[str], Path]
) -> None:
    det = Detector(load_backend("torch", str(WEIGHTS), device="cuda:0", half=True))
    assert det.backend.meta.precision == "fp16"
    img = cv2.imread(str(test_image("bus.jpg")))
    _same_detections(det.detect([img, img])[1].boxes, onnx_detector.detect([img])[0].boxes, px=3, conf=0.02)
