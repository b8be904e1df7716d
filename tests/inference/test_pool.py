"""The decode + model pipeline under the worker (real YOLO11n ONNX model, no Kafka)."""

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference import BadFrameError, Detector, DetectorPool
from inference.backends import OnnxRuntimeBackend
from tests.conftest import MODEL


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(OnnxRuntimeBackend(str(MODEL), threads=0))


@pytest.mark.parametrize("decode_workers", [0, 3], ids=["decode-on-sessions", "decode-pool"])
def test_pool_runs_whole_batches_in_order_and_reports_bad_frames(
    detector: Detector, test_image: Callable[[str], Path], decode_workers: int
) -> None:
    detector.imgsz = 640
    zidane, bus = test_image("zidane.jpg").read_bytes(), test_image("bus.jpg").read_bytes()
    batches = [[zidane, bus], [b"junk", bus, zidane], [zidane]]
    pool = DetectorPool(
        [Detector(OnnxRuntimeBackend(str(MODEL), threads=1), reduced_decode=False) for _ in range(2)], decode_workers
    )
    assert (pool.decoders is None) == (decode_workers == 0)
    try:
        results = [f.result() for f in [pool.submit([(d, "jpeg") for d in b]) for b in batches]]
    finally:
        pool.close()
    assert [len(r) for r in results] == [2, 3, 1]
    assert isinstance(results[1][0], BadFrameError)
    for batch, res in zip(batches, results, strict=True):
        for data, r in zip(batch, res, strict=True):
            if data == b"junk":
                continue
            assert not isinstance(r, BadFrameError)
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            np.testing.assert_allclose(r.boxes, detector.detect([img])[0].boxes, atol=1e-2)
            assert r.decode_ms > 0


def _zero_size_jpeg() -> bytes:
    """A real JPEG whose frame header says 0x0 pixels."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    i = data.index(b"\xff\xc0")  # baseline SOF0: FF C0, length(2), precision(1), height(2), width(2)
    data[i + 5 : i + 9] = b"\x00\x00\x00\x00"
    return bytes(data)


def test_bad_frames_get_a_reason_and_the_rest_of_the_batch_is_detected(test_image: Callable[[str], Path]) -> None:
    from inference import FrameLimits

    bus = test_image("bus.jpg").read_bytes()  # 810x1080 = 874,800 pixels
    big = cv2.imencode(".jpg", np.zeros((1100, 1000, 3), np.uint8))[1].tobytes()  # 1,100,000 pixels
    frames = [
        (b"", "jpeg"),
        (_zero_size_jpeg(), "jpeg"),
        (big, "jpeg"),
        (bus, "png"),
        (b"\xff\xd8\xff\xe0" + bytes(64), "jpeg"),
        (bus, "jpeg"),
    ]
    pool = DetectorPool([Detector(OnnxRuntimeBackend(str(MODEL), threads=1))], limits=FrameLimits(max_pixels=1_000_000))
    try:
        res = pool.submit(frames).result(60)
    finally:
        pool.close()
    reasons = [r.reason if isinstance(r, BadFrameError) else "ok" for r in res]
    assert reasons == ["empty-image", "empty-image", "image-too-large", "unsupported-encoding", "jpeg-decode", "ok"]
    assert "1000x1100" in str(res[2]) and "ITS_INFERENCE_MAX_IMAGE_PIXELS" in str(res[2])
    assert "'png'" in str(res[3])
    ok = res[5]
    assert not isinstance(ok, BadFrameError) and len(ok.boxes) >= 4


class _RaisesOnWhiteFrames:
    """Fake: the real ONNX Runtime backend, made to raise for batches holding a (mostly) white frame (a model that
    fails on particular inputs cannot be produced on demand with a real model file)."""

    def __init__(self) -> None:
        self.inner = OnnxRuntimeBackend(str(MODEL), threads=1)
        self.name, self.device, self.model_path = "onnxruntime", "cpu", self.inner.model_path
        self.meta, self.fixed_hw, self.max_batch = self.inner.meta, None, 0
        self.decode = self.inner.decode

    def run(self, batch: np.ndarray) -> np.ndarray:
        if (batch.reshape(len(batch), -1).mean(1) > 0.9).any():
            raise RuntimeError("Non-zero status code returned while running Conv node")
        return self.inner.run(batch)


def test_a_frame_the_model_raises_on_is_isolated_fake_raising_backend(test_image: Callable[[str], Path]) -> None:
    zidane = test_image("zidane.jpg").read_bytes()
    white = cv2.imencode(".jpg", np.full((720, 1280, 3), 255, np.uint8))[1].tobytes()
    pool = DetectorPool([Detector(_RaisesOnWhiteFrames())])  # type: ignore[arg-type]
    try:
        res = pool.submit([(zidane, "jpeg"), (white, "jpeg"), (zidane, "jpeg")]).result(60)
    finally:
        pool.close()
    assert isinstance(res[1], BadFrameError) and res[1].reason == "model-error"
    assert "Conv node" in str(res[1])
    for r in (res[0], res[2]):
        assert not isinstance(r, BadFrameError) and len(r.boxes) >= 2 and r.batch_size == 1


def test_reduced_decode_finds_the_same_objects_as_a_full_decode(test_image: Callable[[str], Path]) -> None:
    zidane = test_image("zidane.jpg").read_bytes()  # 1280x720: decoded at 1/2 scale for a 640 input
    full = Detector(OnnxRuntimeBackend(str(MODEL), threads=0), reduced_decode=False)
    fast = Detector(full.backend, reduced_decode=True)
    a, b = full.prepare_jpeg(zidane), fast.prepare_jpeg(zidane)
    assert a.letterbox.shape == b.letterbox.shape == (384, 640) and a.letterbox.orig_shape == (720, 1280)
    ra, rb = full.infer([a.letterbox])[0].boxes, fast.infer([b.letterbox])[0].boxes
    strong_a, strong_b = ra[ra[:, 4] > 0.5], rb[rb[:, 4] > 0.5]
    assert strong_a[:, 5].tolist() == strong_b[:, 5].tolist()
    assert np.abs(strong_a[:, :4] - strong_b[:, :4]).max() < 8  # pixels of the 1280x720 frame
