import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inference import Detector, ModelLoadError, nms, postprocess
from inference.backends import OnnxRuntimeBackend, load_backend
from tests.conftest import MODEL

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "ultralytics_predict.json").read_text())


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(OnnxRuntimeBackend(str(MODEL), threads=0))


@pytest.mark.parametrize(
    ("boxes", "scores", "thr", "kept"),
    [
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], 0.7, [0]),  # identical: lower score suppressed
        ([[0, 0, 10, 10], [20, 20, 30, 30]], [0.5, 0.9], 0.7, [1, 0]),  # disjoint: both, by score
        ([[0, 0, 10, 10], [0, 0, 10, 12]], [0.9, 0.8], 0.9, [0, 1]),  # IoU 0.83 <= 0.9 keeps both
        ([[0, 0, 10, 10], [0, 0, 10, 12]], [0.9, 0.8], 0.8, [0]),
        ([], [], 0.7, []),
    ],
)
def test_nms_table(boxes: list[list[float]], scores: list[float], thr: float, kept: list[int]) -> None:
    out = nms(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32), thr)
    assert out.tolist() == kept


def test_postprocess_is_class_aware_and_rescales() -> None:
    # two overlapping anchors of different classes survive; boxes go back to the original 1280x720 frame
    pred = np.zeros((84, 3), np.float32)
    pred[:4, 0] = [320, 192, 64, 64]
    pred[4 + 2, 0] = 0.9  # car
    pred[:4, 1] = [322, 192, 64, 64]
    pred[4 + 7, 1] = 0.8  # truck
    pred[:4, 2] = [100, 100, 10, 10]
    pred[4 + 2, 2] = 0.1  # below conf
    out = postprocess(pred, (384, 640), (720, 1280))
    assert out[:, 5].tolist() == [2, 7]
    np.testing.assert_allclose(out[0, :4], [576, 296, 704, 424], atol=1e-3)  # (x - pad) / 0.5


@pytest.mark.parametrize("imgsz", [640, 320])
@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_matches_ultralytics_predict(
    detector: Detector, test_image: Callable[[str], Path], image: str, imgsz: int
) -> None:
    expected = FIXTURES[image][str(imgsz)]
    detector.imgsz = imgsz
    res = detector.detect([cv2.imread(str(test_image(image)))])[0]
    names = detector.backend.meta.class_names
    got = [(names[int(r[5])], float(r[4]), r[:4].tolist()) for r in res.boxes]
    assert [g[0] for g in got] == [e[0] for e in expected]
    for (_, conf, box), (_, econf, ebox) in zip(got, expected, strict=True):
        assert abs(conf - econf) <= 0.0051  # fixtures keep 3 decimals
        assert np.abs(np.array(box) - np.array(ebox)).max() <= 1.0, (box, ebox)


def test_batch_equals_single(detector: Detector, test_image: Callable[[str], Path]) -> None:
    detector.imgsz = 640
    img = cv2.imread(str(test_image("zidane.jpg")))
    single = detector.detect([img])[0].boxes
    batch = detector.detect([img, img[:, ::-1].copy(), img])
    assert batch[0].batch_size == 3
    np.testing.assert_allclose(batch[0].boxes, single, atol=1e-2)
    np.testing.assert_allclose(batch[2].boxes, single, atol=1e-2)


def test_class_names_come_from_the_model_metadata(detector: Detector) -> None:
    names = detector.backend.meta.class_names
    assert len(names) == 80 and names[0] == "person" and names[2] == "car"


def test_missing_model_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelLoadError) as e:
        load_backend("onnxruntime", str(missing), 1)
    assert str(missing) in str(e.value) and "ITS_INFERENCE_MODEL_PATH" in str(e.value)


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="ITS_INFERENCE_BACKEND"):
        load_backend("tensorrt-on-cpu", str(MODEL), 1)


def test_the_low_tier_adds_boxes_below_the_reported_ones_and_changes_none_of_them() -> None:
    """Inference emits boxes from ITS_INFERENCE_LOW_CONF (0.1) for the tracker; the boxes above 0.25 must be exactly
    those a 0.25 threshold gives (greedy NMS: a lower score never suppresses a higher one), in the same order, so
    read models filtering on report_confidence see what they saw before the low tier existed."""
    from inference.backends.base import PostParams
    from tests.inference.backends.test_openvino import clip_frames

    backend = OnnxRuntimeBackend(str(MODEL), threads=0)
    reported = Detector(backend, params=PostParams(conf=0.25))
    both = Detector(backend, params=PostParams(conf=0.1))
    low_tier = 0
    for img in clip_frames(8, 20):
        ref, got = reported.detect([img])[0].boxes, both.detect([img])[0].boxes
        np.testing.assert_array_equal(got[got[:, 4] > 0.25], ref)
        low_tier += int(((got[:, 4] > 0.1) & (got[:, 4] <= 0.25)).sum())
        assert (got[:, 4] > 0.1).all()
    assert low_tier > 0  # the shared clips do have faint vehicles: the tier is not empty
